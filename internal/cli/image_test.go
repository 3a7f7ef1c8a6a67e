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
	r := f.cli("image", "build", "debian-bookworm", "--force")
	wantExit(t, r, 0)
	if r.stdout != "debian-bookworm 2G\n" {
		t.Errorf("stdout = %q", r.stdout)
	}
	if want := "debootstrap bookworm\nwrite rootfs: 1/2\nwrite rootfs: 2/2\n"; r.stderr != want {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}
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
	r := f.cli("image", "pull", "alpine:3.19", "--size", "4G", "--kernel", "bookworm-6.1")
	wantExit(t, r, 0)
	if r.stdout != "alpine-3.19 1G (kernel bookworm-6.1)\n" {
		t.Errorf("stdout = %q", r.stdout)
	}
	if want := "layer 1/1: 10/10\nunpacking\n"; r.stderr != want {
		t.Errorf("stderr = %q, want %q", r.stderr, want)
	}
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
	r := f.cli("kernel", "pull", "bookworm-6.1")
	wantExit(t, r, 0)
	if r.stdout != "bookworm-6.1 6.1.0\n" || r.stderr != "download: 3/3\n" {
		t.Errorf("kernel pull: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	var req api.PullKernel
	f.body("POST", "/v1/kernels/pull", &req)
	if req.Name != "bookworm-6.1" {
		t.Errorf("kernel pull request = %+v", req)
	}
	r = f.cli("image", "promote", "mine")
	wantExit(t, r, 0)
	if r.stdout != "mine now managed: /var/lib/banger/images/mine/rootfs.ext4\n" || r.stderr != "copying rootfs\n" {
		t.Errorf("image promote: stdout %q, stderr %q", r.stdout, r.stderr)
	}
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
	r := f.cli("image", "list", "--available")
	wantExit(t, r, 0)
	want := "NAME             DISTRO  KERNEL        DOWNLOAD  INSTALLED  DESCRIPTION\n" +
		"debian-bookworm  debian  bookworm-6.1  300M      true       Debian 12\n" +
		"alpine-3.19      alpine  bookworm-6.1  50M       false      Alpine\n"
	if r.stdout != want {
		t.Errorf("image list --available:\n%s\nwant:\n%s", r.stdout, want)
	}
	if r.stderr != "warning: remote catalog unreachable; using the built-in one\n" {
		t.Errorf("stderr = %q", r.stderr)
	}
	r = f.cli("image", "ls", "--available", "--json")
	wantExit(t, r, 0)
	var imgs []api.CatalogImage
	if err := json.Unmarshal([]byte(r.stdout), &imgs); err != nil || !reflect.DeepEqual(imgs, testCatalog().Images) {
		t.Errorf("image ls --available --json = %+v, %v\n%s", imgs, err, r.stdout)
	}

	r = f.cli("kernel", "list", "--available")
	wantExit(t, r, 0)
	want = "NAME          VERSION  DOWNLOAD  INSTALLED\n" +
		"bookworm-6.1  6.1.0    20M       true\n"
	if r.stdout != want {
		t.Errorf("kernel list --available:\n%s\nwant:\n%s", r.stdout, want)
	}
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
	r := f.cli("kernel", "ls")
	wantExit(t, r, 0)
	want := "NAME          VERSION  MANAGED  PATH\n" +
		"bookworm-6.1  6.1.0    true     /k/vmlinux\n"
	if r.stdout != want {
		t.Errorf("kernel ls:\n%s\nwant:\n%s", r.stdout, want)
	}
}
