package daemon

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/image"
	"banger/internal/image/imagetest"
	"banger/internal/vm"
	"banger/internal/vm/vmtest"
)

type imageDaemon struct {
	env    *vmtest.Env
	images *image.Service
	client *api.Client
	state  string
}

// newImageDaemon serves the API on a unix socket over the real image
// service (and store) of a vmtest.Env in a temp state dir.
func newImageDaemon(t *testing.T) *imageDaemon {
	t.Helper()
	d := newTestDaemon(t)
	return &imageDaemon{env: d.env, images: d.env.Images, client: d.client, state: d.env.Dir}
}

// serveCatalog publishes an image "tiny" on kernel "tk" over loopback HTTP.
func serveCatalog(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	imagetest.Publish(t, dir, imagetest.Catalog{Image: "tiny", Kernel: "tk", KernelVersion: "6.1-test"})
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("catalog server not on loopback: %s", srv.URL)
	}
	return srv.URL + "/catalog.json"
}

func wantAPIError(t *testing.T, what string, err error, kind, contains string) {
	t.Helper()
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Kind != kind || !strings.Contains(ae.Message, contains) || ae.OpID == "" {
		t.Errorf("%s: error %v, want kind %s containing %q with an op id", what, err, kind, contains)
	}
}

func TestImageHTTPCatalogPullAndRefusals(t *testing.T) {
	ctx := context.Background()
	d := newImageDaemon(t)
	d.images.CatalogURL = serveCatalog(t)

	cat, err := d.client.Catalog(ctx)
	if err != nil || len(cat.Images) != 1 || cat.Images[0].Name != "tiny" || cat.Images[0].Installed ||
		len(cat.Kernels) != 1 || cat.Kernels[0].Version != "6.1-test" || cat.Warning != "" {
		t.Fatalf("Catalog = %+v, %v", cat, err)
	}

	var events []api.Event
	img, err := d.client.PullImage(ctx, api.PullImage{Ref: "tiny"}, func(e api.Event) { events = append(events, e) })
	if err != nil {
		t.Fatal(err)
	}
	if img.Name != "tiny" || img.Kernel != "tk" || !img.Managed || img.Source != "catalog:tiny" {
		t.Errorf("pulled = %+v", img)
	}
	sawDownload := false
	for _, e := range events {
		if e.Type == "progress" && strings.HasPrefix(e.Step, "download image tiny") && e.Done == e.Total {
			sawDownload = true
		}
	}
	if !sawDownload {
		t.Errorf("no completed download progress in %+v", events)
	}
	if cat, _ := d.client.Catalog(ctx); !cat.Images[0].Installed || !cat.Kernels[0].Installed {
		t.Errorf("catalog after pull = %+v", cat)
	}
	_, err = d.client.PullImage(ctx, api.PullImage{Ref: "tiny", Size: "lots"}, nil)
	wantAPIError(t, "bad --size", err, api.KindBadRequest, "--size")
	_, err = d.client.PullImage(ctx, api.PullImage{Ref: "tiny", Size: "2G"}, nil)
	wantAPIError(t, "--size on catalog image", err, api.KindBadRequest, "container images only")

	k, err := d.client.GetKernel(ctx, "tk")
	if err != nil || k.Version != "6.1-test" || !k.Managed {
		t.Errorf("GetKernel = %+v, %v", k, err)
	}
	wantAPIError(t, "kernel rm in use", d.client.DeleteKernel(ctx, "tk"), api.KindInUse, "used by image tiny")
	_, err = d.client.GetKernel(ctx, "nope")
	wantAPIError(t, "unknown kernel", err, api.KindNotFound, "nope")
	_, err = d.client.PullKernel(ctx, api.PullKernel{Name: "nope"}, nil)
	wantAPIError(t, "pull unknown kernel", err, api.KindNotFound, "kernel list --available")

	if _, err := d.env.Service.Create(ctx, vm.CreateRequest{Name: "devbox", Image: "tiny", NoStart: true}, nil); err != nil {
		t.Fatal(err)
	}
	wantAPIError(t, "image delete in use", d.client.DeleteImage(ctx, "tiny"), api.KindInUse, "used by VM devbox")

	out := t.TempDir()
	b, err := d.client.BundleImage(ctx, "tiny", api.BundleRequest{Out: out})
	if err != nil || b.Kind != "image" || filepath.Dir(b.File) != out || len(b.SHA256) != 64 {
		t.Errorf("BundleImage = %+v, %v", b, err)
	}
	if _, err := os.Stat(b.EntryFile); err != nil {
		t.Error(err)
	}
	_, err = d.client.BundleKernel(ctx, "tk", api.BundleRequest{Out: "rel"})
	wantAPIError(t, "relative --out", err, api.KindBadRequest, "absolute")

	rep, err := d.client.PruneImageCache(ctx, api.PruneCache{DryRun: true})
	if err != nil || !rep.DryRun || len(rep.Files) != 2 || rep.Bytes <= 0 {
		t.Errorf("dry-run prune = %+v, %v", rep, err)
	}
	rep, err = d.client.PruneImageCache(ctx, api.PruneCache{})
	if err != nil || len(rep.Files) != 2 {
		t.Errorf("prune = %+v, %v", rep, err)
	}
	if rep, _ := d.client.PruneImageCache(ctx, api.PruneCache{DryRun: true}); len(rep.Files) != 0 {
		t.Errorf("after prune = %+v", rep)
	}
}

func TestImageHTTPRegisterPromoteImportKernel(t *testing.T) {
	ctx := context.Background()
	d := newImageDaemon(t)
	src := t.TempDir()
	rootfs := imagetest.WriteFile(t, filepath.Join(src, "root.ext4"), imagetest.Ext4())
	kernel := imagetest.WriteFile(t, filepath.Join(src, "vmlinux"), imagetest.Vmlinux())

	_, err := d.client.RegisterImage(ctx, api.RegisterImage{Name: "mine", Rootfs: "root.ext4", Kernel: kernel})
	wantAPIError(t, "relative rootfs", err, api.KindBadRequest, "absolute")
	_, err = d.client.RegisterImage(ctx, api.RegisterImage{Name: "mine", Rootfs: kernel, Kernel: kernel})
	wantAPIError(t, "not ext4", err, api.KindBadRequest, "ext4")

	// Registering copies the files into banger's storage.
	img, err := d.client.RegisterImage(ctx, api.RegisterImage{Name: "mine", Rootfs: rootfs, Kernel: kernel})
	if err != nil || !img.Managed || img.Kernel != "mine-kernel" || img.Rootfs != filepath.Join(d.state, "images", "mine", "rootfs.ext4") || img.Source != rootfs {
		t.Fatalf("RegisterImage = %+v, %v", img, err)
	}
	_, err = d.client.RegisterImage(ctx, api.RegisterImage{Name: "mine", Rootfs: rootfs, KernelRef: "mine-kernel"})
	wantAPIError(t, "duplicate", err, api.KindAlreadyExists, "mine")

	_, err = d.client.PromoteImage(ctx, "mine", nil)
	wantAPIError(t, "promote a registered image", err, api.KindBadRequest, "already")
	_, err = d.client.PromoteImage(ctx, "ghost", nil)
	wantAPIError(t, "promote unknown", err, api.KindNotFound, "ghost")

	from := t.TempDir()
	imagetest.WriteFile(t, filepath.Join(from, "vmlinux"), imagetest.Vmlinux())
	imagetest.WriteFile(t, filepath.Join(from, "initrd.img"), []byte("initrd"))
	k, err := d.client.ImportKernel(ctx, api.ImportKernel{Name: "imported", From: from})
	if err != nil || !k.Managed || k.Path != filepath.Join(d.state, "kernels", "imported", "vmlinux") || k.Initrd == "" {
		t.Errorf("ImportKernel = %+v, %v", k, err)
	}
	_, err = d.client.ImportKernel(ctx, api.ImportKernel{Name: "again", From: t.TempDir()})
	wantAPIError(t, "import from a dir without one kernel", err, api.KindBadRequest, "exactly one")
	if err := d.client.DeleteKernel(ctx, "imported"); err != nil {
		t.Errorf("DeleteKernel = %v", err)
	}
	if _, err := os.Stat(filepath.Join(d.state, "kernels", "imported")); !os.IsNotExist(err) {
		t.Errorf("kernel dir after rm: %v", err)
	}
}
