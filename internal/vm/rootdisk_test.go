package vm_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/store"
	"banger/internal/vm"
	"banger/internal/vm/vmtest"
	"banger/internal/vmm"
)

// oldVM records a VM the way a daemon from before root disks were recorded
// left it: a row without a root disk and, when file is set, that file in
// its directory.
func oldVM(t *testing.T, e *vmtest.Env, file string) store.VM {
	t.Helper()
	v, err := e.Store.CreateVM(ctx, store.VM{Name: "old", ImageID: e.Image.ID, VCPUs: 1, MemoryMiB: 256, DiskBytes: 1 << 30,
		IP: "172.31.7.99", MAC: "52:54:00:1f:07:63", Backend: vmtest.Backend, GuestCID: 99, State: store.VMStateStopped})
	if err != nil {
		t.Fatal(err)
	}
	dir := e.VMDir(v.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if file != "" {
		if err := os.WriteFile(filepath.Join(dir, file), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

func TestStartFindsAndRecordsTheRootDiskOfAnOlderVM(t *testing.T) {
	for file, format := range map[string]string{"root.dm": "raw", "root.raw": "raw", "root.qcow2": "qcow2"} {
		t.Run(file, func(t *testing.T) {
			e := vmtest.New(t)
			v := oldVM(t, e, file)
			if _, err := e.Service.Start(ctx, "old", nil); err != nil {
				t.Fatal(err)
			}
			want := vmm.Disk{Path: filepath.Join(e.VMDir(v.ID), file), Format: format}
			if starts := e.VMM.Starts(); len(starts) != 1 || starts[0].Disks[0] != want {
				t.Fatalf("booted with %+v, want root disk %+v", starts, want)
			}
			if got, _ := e.Store.GetVM(ctx, v.ID); got.RootDisk != file || got.RootFormat != format {
				t.Fatalf("recorded %q (%q), want %q (%q)", got.RootDisk, got.RootFormat, file, format)
			}
		})
	}
}

func TestStartWithoutARootDiskSaysSo(t *testing.T) {
	e := vmtest.New(t)
	oldVM(t, e, "")
	_, err := e.Service.Start(ctx, "old", nil)
	if err == nil || !strings.Contains(err.Error(), "no recorded root disk") {
		t.Fatalf("Start = %v, want an error about the missing root disk", err)
	}
	if len(e.VMM.Starts()) != 0 || len(e.Links.Created()) != 0 {
		t.Fatal("a VM without a root disk was booted or given a tap")
	}
}

// absRootVMM makes root disks outside the VM's directory.
type absRootVMM struct {
	*vmtest.VMM
	path string
}

func (a absRootVMM) PrepareRootDisk(context.Context, string, string, int64) (vmm.Disk, error) {
	return vmm.Disk{Path: a.path, Format: "raw"}, os.WriteFile(a.path, nil, 0o600)
}

func TestRootDiskOutsideTheVMDirIsRecordedAbsolute(t *testing.T) {
	e := vmtest.New(t)
	p := filepath.Join(t.TempDir(), "elsewhere.img")
	e.Service.Backends[vmtest.Backend] = absRootVMM{VMM: e.VMM, path: p}
	in := create(t, e, vm.CreateRequest{Name: "abs"})
	if got, _ := e.Store.GetVM(ctx, in.ID); got.RootDisk != p {
		t.Fatalf("recorded %q, want %q", got.RootDisk, p)
	}
	if starts := e.VMM.Starts(); starts[0].Disks[0].Path != p {
		t.Fatalf("booted with root disk %+v, want %s", starts[0].Disks[0], p)
	}
}

func TestCreateGivesTheRootDiskRoom(t *testing.T) {
	e := vmtest.New(t)
	for _, c := range []struct {
		req  vm.CreateRequest
		room int64
	}{
		{vm.CreateRequest{Name: "default", NoStart: true}, 4 << 30},
		{vm.CreateRequest{Name: "six", RootSize: "6G", NoStart: true}, 6 << 30},
	} {
		info, err := e.Service.Create(ctx, c.req, nil)
		if err != nil {
			t.Fatal(err)
		}
		v, err := e.Store.GetVM(ctx, info.ID)
		if err != nil {
			t.Fatal(err)
		}
		got := e.VMM.RootSize(filepath.Join(e.VMDir(v.ID), v.RootDisk))
		if want := int64(vmtest.ImageBytes) + c.room + c.room/8; got != want {
			t.Errorf("%s: root disk of %d bytes asked, want %d (the image, the room and an eighth)", c.req.Name, got, want)
		}
	}
}
