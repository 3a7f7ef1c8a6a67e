package vm_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"banger/internal/vm"
	"banger/internal/vm/vmtest"
)

func TestCreateNamesTheMissingToolsPackage(t *testing.T) {
	e := vmtest.New(t)
	e.Service.LookPath = func(name string) (string, error) {
		if name == "mkfs.ext4" {
			return "", errors.New("not found")
		}
		return "/usr/bin/" + name, nil
	}
	_, err := e.Service.Create(context.Background(), vm.CreateRequest{Name: "t"}, nil)
	if err == nil || !strings.Contains(err.Error(), "apt-get install e2fsprogs") {
		t.Fatalf("want an error naming e2fsprogs, got %v", err)
	}
	if vms, _ := e.Store.ListVMs(context.Background()); len(vms) != 0 {
		t.Fatalf("a VM was recorded: %+v", vms)
	}
}
