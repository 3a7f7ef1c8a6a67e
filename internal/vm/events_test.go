package vm_test

import (
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"banger/internal/vm"
	"banger/internal/vm/vmtest"
)

// recorder collects the events a subscriber got.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) handle(ev vm.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, string(ev.Kind)+" "+ev.Name+ev.Bridge)
}

func (r *recorder) events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func TestEventsFollowTheLifecycle(t *testing.T) {
	e := vmtest.New(t)
	var r recorder
	defer e.Service.Subscribe(r.handle).Close()
	in := create(t, e, vm.CreateRequest{Name: "ev"})
	// An operation returns once the subscribers have handled its events.
	want := []string{"vm-created ev", "bridge-ready bgtest0", "vm-started ev"}
	if got := r.events(); !slices.Equal(got, want) {
		t.Fatalf("after create: %q, want %q", got, want)
	}
	if _, err := e.Service.Stop(ctx, "ev", nil); err != nil {
		t.Fatal(err)
	}
	want = append(want, "vm-stopped ev")
	if got := r.events(); !slices.Equal(got, want) {
		t.Fatalf("after stop: %q, want %q", got, want)
	}
	again, err := e.Service.Start(ctx, "ev", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.VMM.Exit(again.PID) // the process ends by itself
	want = append(want, "bridge-ready bgtest0", "vm-started ev", "vm-stopped ev")
	vmtest.Eventually(t, "the exit is published", func() bool { return slices.Equal(r.events(), want) })
	if err := e.Service.Delete(ctx, in.ID); err != nil {
		t.Fatal(err)
	}
	want = append(want, "vm-deleted ev")
	if got := r.events(); !slices.Equal(got, want) {
		t.Fatalf("after delete: %q, want %q", got, want)
	}
}

// A stuck subscriber delays an operation by a bounded time, no more.
func TestStuckSubscriberDoesNotHangTheService(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := vmtest.New(t)
		release := make(chan struct{})
		sub := e.Service.Subscribe(func(vm.Event) { <-release })
		start := time.Now()
		create(t, e, vm.CreateRequest{Name: "slow", NoStart: true})
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("create took %s with a stuck subscriber", d)
		}
		close(release)
		sub.Close()
	})
}

// Close ends the watchers: the VMs keep running and a later exit is left
// for the next daemon's Reconcile.
func TestCloseLeavesVMsRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := vmtest.New(t)
		in := create(t, e, vm.CreateRequest{Name: "keep", NAT: &[]bool{true}[0]})
		e.Service.Close()
		if !e.VMM.Alive(in.PID) || len(e.VMM.Kills())+len(e.VMM.Stops()) != 0 {
			t.Fatal("Close touched the VM's process")
		}
		e.VMM.Exit(in.PID)
		synctest.Wait()
		if state(t, e, in.ID) != "running" || !e.Links.Has(in.Tap) {
			t.Fatal("a watcher acted after Close")
		}
		// The next service finds the exit.
		svc := e.NewService()
		if err := svc.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		if state(t, e, in.ID) != "stopped" || e.Links.Has(in.Tap) || e.NAT.Enabled(in.IP) {
			t.Fatal("Reconcile did not clean up after the exit")
		}
	})
}
