package vm_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"banger/internal/vm"
	"banger/internal/vm/vmtest"
	"banger/internal/vmm"
)

// adaptedVMM is a fake backend that makes a raw root disk, wants its own
// kernel form and taps owned by uid 4242.
type adaptedVMM struct {
	*vmtest.VMM
	rootImage string
}

func (a *adaptedVMM) PrepareRootDisk(_ context.Context, image, dir string, _ int64) (vmm.Disk, error) {
	a.rootImage = image
	p := filepath.Join(dir, "root.raw")
	return vmm.Disk{Path: p, Format: "raw"}, os.WriteFile(p, nil, 0o600)
}

func (a *adaptedVMM) Kernel(_ context.Context, kernel string) (string, error) {
	return kernel + ".vmlinux", nil
}

func (a *adaptedVMM) TapOwner(vmm.Config) int { return 4242 }

func TestBackendAdaptersAreUsed(t *testing.T) {
	e := vmtest.New(t)
	a := &adaptedVMM{VMM: e.VMM}
	e.Service.Backends[vmtest.Backend] = a
	info, err := e.Service.Create(context.Background(), vm.CreateRequest{Name: "fc"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.rootImage != e.Image.Rootfs {
		t.Errorf("root disk prepared from %q, want %q", a.rootImage, e.Image.Rootfs)
	}
	if v, _ := e.Store.GetVM(context.Background(), info.ID); v.RootDisk != "root.raw" || v.RootFormat != "raw" {
		t.Errorf("recorded root disk %q (%q), want the backend's root.raw", v.RootDisk, v.RootFormat)
	}
	starts := e.VMM.Starts()
	if len(starts) != 1 {
		t.Fatalf("starts: %d", len(starts))
	}
	cfg := starts[0]
	if cfg.Kernel != e.Kernel.Path+".vmlinux" {
		t.Errorf("kernel %q, want the adapted one", cfg.Kernel)
	}
	if cfg.Disks[0].Format != "raw" || filepath.Base(cfg.Disks[0].Path) != "root.raw" {
		t.Errorf("root disk %+v, want root.raw", cfg.Disks[0])
	}
	if got := e.Links.Owner(info.Tap); got != 4242 {
		t.Errorf("tap owner %d, want 4242", got)
	}
}

// advisedVMM asks for at least three vCPUs.
type advisedVMM struct {
	*vmtest.VMM
	kernel string
}

func (a *advisedVMM) Hints(_ context.Context, kernel, _ string) vmm.Hints {
	a.kernel = kernel
	return vmm.Hints{MinVCPUs: 3, Why: "test"}
}

func TestDefaultVCPUsFitTheBackendsHints(t *testing.T) {
	e := vmtest.New(t)
	a := &advisedVMM{VMM: e.VMM}
	e.Service.Backends[vmtest.Backend] = a
	e.Service.Defaults.FitVCPUs = func(h vmm.Hints) int { return max(h.MinVCPUs, 1) }
	for _, c := range []struct {
		req  vm.CreateRequest
		want int
	}{
		{vm.CreateRequest{Name: "fitted", NoStart: true}, 3},
		{vm.CreateRequest{Name: "asked", VCPUs: 1, NoStart: true}, 1},
	} {
		info, err := e.Service.Create(context.Background(), c.req, nil)
		if err != nil {
			t.Fatal(err)
		}
		if info.VCPUs != c.want {
			t.Errorf("%s: %d vCPUs, want %d", c.req.Name, info.VCPUs, c.want)
		}
	}
	if a.kernel != e.Kernel.Path {
		t.Errorf("hints asked for kernel %q, want the image's %q", a.kernel, e.Kernel.Path)
	}
}
