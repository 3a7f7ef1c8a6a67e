package vm_test

import (
	"errors"
	"strings"
	"testing"

	"banger/internal/rootfs"
	"banger/internal/vm"
	"banger/internal/vm/vmtest"
)

// TestInitChoice: --init agent puts the agent on the kernel command line
// and is recorded with the VM; the image's choice (here systemd's
// /sbin/init, no init=) is the default; anything else is refused.
func TestInitChoice(t *testing.T) {
	e := vmtest.New(t)
	create(t, e, vm.CreateRequest{Name: "plain"})
	agentVM := create(t, e, vm.CreateRequest{Name: "agent", Init: vm.InitAgent})
	starts := e.VMM.Starts()
	if len(starts) != 2 {
		t.Fatalf("%d starts", len(starts))
	}
	if strings.Contains(starts[0].Cmdline, " init=") {
		t.Errorf("default boot has an init=: %s", starts[0].Cmdline)
	}
	if !strings.Contains(starts[1].Cmdline, " init="+rootfs.AgentInit) {
		t.Errorf("--init agent boot: %s", starts[1].Cmdline)
	}
	if agentVM.Init != vm.InitAgent {
		t.Errorf("recorded init %q", agentVM.Init)
	}
	got, err := e.Store.GetVM(ctx, "agent")
	if err != nil || got.Init != vm.InitAgent {
		t.Errorf("stored init %q, %v", got.Init, err)
	}
	_, err = e.Service.Create(ctx, vm.CreateRequest{Name: "bad", Init: "openrc"}, nil)
	if !errors.Is(err, vm.ErrBadRequest) || !strings.Contains(err.Error(), "--init") {
		t.Errorf("--init openrc: %v", err)
	}
}
