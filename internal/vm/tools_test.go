package vm_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"banger/internal/vm"
	"banger/internal/vm/vmtest"
	"banger/internal/vmm"
)

func TestCreateNamesTheMissingToolsPackage(t *testing.T) {
	for _, tt := range []struct{ missing, pkg string }{
		{"mkfs.ext4", "e2fsprogs"},     // the service's own
		{"debootstrap", "debootstrap"}, // one the backend names
	} {
		t.Run(tt.missing, func(t *testing.T) {
			e := vmtest.New(t)
			e.VMM.Tools = []string{"debootstrap"}
			e.Service.LookPath = func(name string) (string, error) {
				if name == tt.missing {
					return "", errors.New("not found")
				}
				return "/usr/bin/" + name, nil
			}
			_, err := e.Service.Create(context.Background(), vm.CreateRequest{Name: "t"}, nil)
			if err == nil || !strings.Contains(err.Error(), "apt-get install "+tt.pkg) {
				t.Fatalf("want an error naming %s, got %v", tt.pkg, err)
			}
			if vms, _ := e.Store.ListVMs(context.Background()); len(vms) != 0 {
				t.Fatalf("a VM was recorded: %+v", vms)
			}
		})
	}
}

// plainVMM is a backend with nothing beyond vmm.VMM: no root disks.
type plainVMM struct{ vmm.VMM }

func TestCreateNeedsABackendThatMakesRootDisks(t *testing.T) {
	e := vmtest.New(t)
	e.Service.Backends[vmtest.Backend] = plainVMM{e.VMM}
	_, err := e.Service.Create(context.Background(), vm.CreateRequest{Name: "t"}, nil)
	if err == nil || !strings.Contains(err.Error(), "vmm.RootDisker") || !strings.Contains(err.Error(), vmtest.Backend) {
		t.Fatalf("want an error saying the backend makes no root disks, got %v", err)
	}
	if vms, _ := e.Store.ListVMs(context.Background()); len(vms) != 0 {
		t.Fatalf("a VM was recorded: %+v", vms)
	}
}
