package vm_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"banger/internal/store"
	"banger/internal/vm"
	"banger/internal/vm/vmtest"
)

// TestHaltPreemptsAStuckStart: a start whose guest never becomes ready
// holds the VM's lock; kill, stop and delete cancel it, and then do their
// work, instead of waiting for the boot timeout.
func TestHaltPreemptsAStuckStart(t *testing.T) {
	for _, tc := range []struct {
		by   string
		halt func(e *vmtest.Env, name string) error
	}{
		{"vm kill", func(e *vmtest.Env, n string) error { _, err := e.Service.Kill(ctx, n, nil); return err }},
		{"vm stop", func(e *vmtest.Env, n string) error { _, err := e.Service.Stop(ctx, n, nil); return err }},
		{"vm delete", func(e *vmtest.Env, n string) error { return e.Service.Delete(ctx, n) }},
	} {
		t.Run(tc.by, func(t *testing.T) {
			e := vmtest.New(t)
			in := create(t, e, vm.CreateRequest{Name: "stuck", NAT: &[]bool{true}[0], NoStart: true})
			held := make(chan struct{})
			e.HoldReady(func(ctx context.Context) error {
				close(held)
				<-ctx.Done() // a guest that never answers
				return ctx.Err()
			})
			pid := e.VMM.NextPID()
			started := make(chan error, 1)
			go func() { _, err := e.Service.Start(context.Background(), "stuck", nil); started <- err }()
			<-held

			halted := make(chan error, 1)
			go func() { halted <- tc.halt(e, "stuck") }()
			select {
			case err := <-halted:
				if err != nil {
					t.Fatalf("%s = %v", tc.by, err)
				}
			case <-time.After(time.Minute):
				t.Fatalf("%s still waits for the stuck start after a minute", tc.by)
			}
			err := <-started
			var pe *vm.PreemptedError
			if !errors.As(err, &pe) || pe.By != tc.by {
				t.Fatalf("Start = %v, want it pre-empted by %s", err, tc.by)
			}
			t.Logf("Start = %v", err)
			if e.VMM.Alive(pid) {
				t.Error("the stuck start's VMM process is still alive")
			}
			if tc.by == "vm delete" {
				if _, err := e.Store.GetVM(ctx, in.ID); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("the VM's row is still there: %v", err)
				}
				return
			}
			assertCleanedUp(t, e, in)
		})
	}
}

// TestPruneLeavesAStartingVM: prune deletes only VMs that are not running
// and does not pre-empt a start in flight.
func TestPruneLeavesAStartingVM(t *testing.T) {
	e := vmtest.New(t)
	create(t, e, vm.CreateRequest{Name: "booting", NoStart: true})
	held, release := make(chan struct{}), make(chan struct{})
	e.HoldReady(func(ctx context.Context) error {
		close(held)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	started := make(chan error, 1)
	go func() { _, err := e.Service.Start(context.Background(), "booting", nil); started <- err }()
	<-held
	pruned := make(chan []string, 1)
	go func() { names, _ := e.Service.Prune(ctx); pruned <- names }()
	// Give prune the time to reach the VM (it then waits on its lock); a
	// prune that pre-empted the start would fail it meanwhile.
	time.AfterFunc(300*time.Millisecond, func() { close(release) })
	if err := <-started; err != nil {
		t.Fatalf("Start = %v; prune pre-empted it", err)
	}
	if names := <-pruned; len(names) != 0 {
		t.Fatalf("prune deleted %v", names)
	}
}
