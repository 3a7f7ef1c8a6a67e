package vm_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"banger/internal/store"
	"banger/internal/vm"
	"banger/internal/vm/vmtest"
)

// TestCancelledCreateLeavesNothing: a create whose context is cancelled
// during the boot (`banger ops cancel`) undoes all of it: before, the
// rollback of the start left the VM's row and directory behind, stopped.
func TestCancelledCreateLeavesNothing(t *testing.T) {
	e := vmtest.New(t)
	booting := make(chan struct{})
	e.HoldReady(func(ctx context.Context) error {
		close(booting)
		<-ctx.Done()
		return ctx.Err()
	})
	pid := e.VMM.NextPID()
	cctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.Service.Create(cctx, vm.CreateRequest{Name: "undone", NAT: &[]bool{true}[0]}, nil)
		done <- err
	}()
	<-booting
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled create: %v", err)
	}
	ctx := context.Background()
	if _, err := e.Store.GetVM(ctx, "undone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("VM row: %v, want none", err)
	}
	if taps := e.Links.Taps(); len(taps) != 0 {
		t.Errorf("taps: %v", taps)
	}
	if nat, _ := e.NAT.List(ctx); len(nat) != 0 {
		t.Errorf("NAT rules: %v", nat)
	}
	if e.VMM.Alive(pid) {
		t.Errorf("VMM %d alive", pid)
	}
	for _, dir := range []string{e.Service.VMsDir, e.Service.RuntimeDir} {
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s holds %d entries", dir, len(ents))
		}
	}
}
