package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"banger/internal/api"
)

func TestImageBuildPrintsProgressAndTheImage(t *testing.T) {
	f := newFakeDaemon(t)
	f.stream("POST /v1/images/build",
		api.Event{Type: "log", Message: "debootstrap bookworm"},
		api.Event{Type: "progress", Step: "write rootfs", Done: 1, Total: 2},
		api.Event{Type: "progress", Step: "write rootfs", Done: 2, Total: 2},
		result(t, api.Image{Name: "debian-bookworm", SizeBytes: 2 << 30}))
	wantOutput(t, f.cli("image", "build", "debian-bookworm", "--force"), 0,
		"debian-bookworm 2G\n", "debootstrap bookworm\nwrite rootfs: 1/2\nwrite rootfs: 2/2\n")
	var req api.BuildImage
	f.body("POST", "/v1/images/build", &req)
	if req != (api.BuildImage{Name: "debian-bookworm", Force: true}) {
		t.Errorf("build request = %+v", req)
	}
}

func TestImagePullPrintsProgressAndSendsAbsolutePaths(t *testing.T) {
	f := newFakeDaemon(t)
	f.stream("POST /v1/images/pull",
		api.Event{Type: "progress", Step: "layer 1/1", Done: 10, Total: 10},
		api.Event{Type: "log", Message: "unpacking"},
		result(t, api.Image{Name: "alpine-3.19", SizeBytes: 1 << 30, Kernel: "bookworm-6.1"}))
	wantOutput(t, f.cli("image", "pull", "alpine:3.19", "--size", "4G", "--kernel", "bookworm-6.1"), 0,
		"alpine-3.19 1G (kernel bookworm-6.1)\n", "layer 1/1: 10/10\nunpacking\n")
	var req api.PullImage
	f.body("POST", "/v1/images/pull", &req)
	if req != (api.PullImage{Ref: "alpine:3.19", Size: "4G", Kernel: "bookworm-6.1"}) {
		t.Errorf("pull request = %+v", req)
	}

	// An OCI layout directory is sent as an absolute path: the daemon has
	// its own working directory.
	t.Chdir(t.TempDir())
	if err := os.Mkdir("layout", 0o755); err != nil {
		t.Fatal(err)
	}
	wantExit(t, f.cli("image", "pull", "./layout", "--name", "mine"), 0)
	f.body("POST", "/v1/images/pull", &req)
	wd, _ := os.Getwd()
	if req.Ref != filepath.Join(wd, "layout") || req.Name != "mine" {
		t.Errorf("pull of a local layout: request = %+v", req)
	}
}

func TestKernelPullAndImagePromotePrintProgress(t *testing.T) {
	f := newFakeDaemon(t)
	f.stream("POST /v1/kernels/pull",
		api.Event{Type: "progress", Step: "download", Done: 3, Total: 3},
		result(t, api.Kernel{Name: "bookworm-6.1", Version: "6.1.0"}))
	f.stream("POST /v1/images/mine/promote",
		api.Event{Type: "log", Message: "copying rootfs"},
		result(t, api.Image{Name: "mine", Rootfs: "/var/lib/banger/images/mine/rootfs.ext4"}))
	wantOutput(t, f.cli("kernel", "pull", "bookworm-6.1"), 0, "bookworm-6.1 6.1.0\n", "download: 3/3\n")
	var req api.PullKernel
	f.body("POST", "/v1/kernels/pull", &req)
	if req.Name != "bookworm-6.1" {
		t.Errorf("kernel pull request = %+v", req)
	}
	wantOutput(t, f.cli("image", "promote", "mine"), 0, "mine now managed: /var/lib/banger/images/mine/rootfs.ext4\n", "copying rootfs\n")
}

func testCatalog() api.Catalog {
	return api.Catalog{
		Images: []api.CatalogImage{
			{Name: "debian-bookworm", Distro: "debian", KernelRef: "bookworm-6.1", SizeBytes: 300 << 20, Description: "Debian 12", Installed: true},
			{Name: "alpine-3.19", Distro: "alpine", KernelRef: "bookworm-6.1", SizeBytes: 50 << 20, Description: "Alpine"},
		},
		Kernels: []api.CatalogKernel{{Name: "bookworm-6.1", Version: "6.1.0", SizeBytes: 20 << 20, Installed: true}},
		Warning: "remote catalog unreachable; using the built-in one",
	}
}

func TestImageAndKernelListAvailable(t *testing.T) {
	f := newFakeDaemon(t)
	f.reply("GET /v1/catalog", testCatalog())
	warning := "warning: remote catalog unreachable; using the built-in one\n"
	wantOutput(t, f.cli("image", "list", "--available"), 0,
		"NAME             DISTRO  KERNEL        DOWNLOAD  INSTALLED  DESCRIPTION\n"+
			"debian-bookworm  debian  bookworm-6.1  300M      true       Debian 12\n"+
			"alpine-3.19      alpine  bookworm-6.1  50M       false      Alpine\n", warning)
	r := f.cli("image", "ls", "--available", "--json")
	wantExit(t, r, 0)
	var imgs []api.CatalogImage
	if err := json.Unmarshal([]byte(r.stdout), &imgs); err != nil || !reflect.DeepEqual(imgs, testCatalog().Images) {
		t.Errorf("image ls --available --json = %+v, %v\n%s", imgs, err, r.stdout)
	}

	wantOutput(t, f.cli("kernel", "list", "--available"), 0,
		"NAME          VERSION  DOWNLOAD  INSTALLED\n"+
			"bookworm-6.1  6.1.0    20M       true\n", warning)
	r = f.cli("kernel", "list", "--available", "--json")
	wantExit(t, r, 0)
	var ks []api.CatalogKernel
	if err := json.Unmarshal([]byte(r.stdout), &ks); err != nil || !reflect.DeepEqual(ks, testCatalog().Kernels) {
		t.Errorf("kernel list --available --json = %+v, %v", ks, err)
	}
	if got := f.seen(); len(got) != 4 || strings.Join(got, ",") != strings.Repeat("GET /v1/catalog,", 3)+"GET /v1/catalog" {
		t.Errorf("requests = %v, want the catalog four times", got)
	}
}

func TestKernelList(t *testing.T) {
	f := newFakeDaemon(t)
	f.reply("GET /v1/kernels", []api.Kernel{{Name: "bookworm-6.1", Version: "6.1.0", Path: "/k/vmlinux", Managed: true}})
	wantOutput(t, f.cli("kernel", "ls"), 0,
		"NAME          VERSION  MANAGED  PATH\n"+
			"bookworm-6.1  6.1.0    true     /k/vmlinux\n", "")
}
