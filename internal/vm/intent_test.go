package vm_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"banger/internal/crashpoint"
	"banger/internal/store"
	"banger/internal/vm"
	"banger/internal/vm/vmtest"
)

// pauseAt holds svc at step until release is called; the returned channel
// receives once the step is reached.
func pauseAt(t *testing.T, svc *vm.Service, step string) (<-chan struct{}, func()) {
	t.Helper()
	h, err := crashpoint.Parse(step)
	if err != nil {
		t.Fatal(err)
	}
	reached, gate := make(chan struct{}, 1), make(chan struct{})
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	svc.Crash = h.WithExit(func() { reached <- struct{}{}; <-gate })
	return reached, release
}

// TestDeleteRefusesVMBeingCreated: while a VM's disks are being made,
// `vm delete` refuses it and `vm prune` leaves it, and the create then
// finishes with everything in place.
func TestDeleteRefusesVMBeingCreated(t *testing.T) {
	e := vmtest.New(t)
	reached, release := pauseAt(t, e.Service, crashpoint.CreateRootDisk)
	done := make(chan error, 1)
	go func() {
		_, err := e.Service.Create(ctx, vm.CreateRequest{Name: "busy", NoStart: true}, nil)
		done <- err
	}()
	<-reached
	if err := e.Service.Delete(ctx, "busy"); !errors.Is(err, vm.ErrInUse) {
		t.Errorf("delete of a VM being created: %v, want ErrInUse", err)
	}
	if pruned, err := e.Service.Prune(ctx); err != nil || len(pruned) != 0 {
		t.Errorf("prune deleted %v (%v) while a VM was being created", pruned, err)
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("create: %v", err)
	}
	in, err := e.Service.Get(ctx, "busy")
	if err != nil {
		t.Fatal(err)
	}
	if !vmtest.Exists(filepath.Join(in.Dir, "work.ext4")) || !vmtest.Exists(filepath.Join(in.Dir, vmtest.RootDiskName)) {
		t.Error("the VM's disks are missing after its create finished")
	}
	if err := e.Service.Delete(ctx, "busy"); err != nil {
		t.Errorf("delete once created: %v", err)
	}
}

// TestReconcileKillsStrayVMM: a process running in a VM's runtime dir with
// that dir on its command line, which no handles record (a crash between
// the VMM's start and the write of its handles), is killed at reconcile.
func TestReconcileKillsStrayVMM(t *testing.T) {
	e := vmtest.New(t)
	in := create(t, e, vm.CreateRequest{Name: "orphan", NoStart: true})
	dir := e.RunDir(in.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "vmm.log")
	if err := os.WriteFile(log, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	stray := exec.Command("tail", "-f", log)
	stray.Dir = dir
	if err := stray.Start(); err != nil {
		t.Skipf("cannot start a stand-in VMM: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- stray.Wait() }()
	t.Cleanup(func() { _ = stray.Process.Kill() })
	// Another process in no VM's dir is left alone.
	bystander := exec.Command("tail", "-f", log)
	if err := bystander.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bystander.Process.Kill(); _ = bystander.Wait() })

	if err := e.NewService().Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	vmtest.Eventually(t, "the stray VMM is reaped", func() bool {
		select {
		case err := <-waited:
			waited <- err
			return true
		default:
			return false
		}
	})
	if err := bystander.Process.Signal(syscall.Signal(0)); err != nil {
		t.Errorf("a process outside the VMs' dirs was killed: %v", err)
	}
}

// TestRemoveVMGoesWithItsRequest: a --rm VM is deleted when its create
// fails because the client went away during the boot (before, it stayed
// listed as "created"), when the request holding it ends, and at reconcile
// after a crash.
func TestRemoveVMGoesWithItsRequest(t *testing.T) {
	t.Run("client gone during boot", func(t *testing.T) {
		e := vmtest.New(t)
		cctx, cancel := context.WithCancel(ctx)
		e.HoldReady(func(ctx context.Context) error { cancel(); <-ctx.Done(); return ctx.Err() })
		if _, err := e.Service.Create(cctx, vm.CreateRequest{Name: "gone", Remove: true}, nil); err == nil {
			t.Fatal("create succeeded after its client went away")
		}
		assertNoVMs(t, e, e.Service)
	})
	t.Run("hold ends", func(t *testing.T) {
		e := vmtest.New(t)
		in := create(t, e, vm.CreateRequest{Name: "held", Remove: true})
		kept := create(t, e, vm.CreateRequest{Name: "kept"})
		hctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- e.Service.HoldRemove(hctx, in.ID) }()
		if err := e.Service.HoldRemove(cancelled(), kept.ID); err != nil {
			t.Fatalf("hold of a VM without --rm: %v", err)
		}
		if _, err := e.Service.Get(ctx, "kept"); err != nil {
			t.Fatalf("a VM without --rm was deleted: %v", err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("hold: %v", err)
		}
		if _, err := e.Service.Get(ctx, "held"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("--rm VM after its request ended: %v", err)
		}
	})
	t.Run("reconcile", func(t *testing.T) {
		e := vmtest.New(t)
		create(t, e, vm.CreateRequest{Name: "crashed", Remove: true, NAT: ptr(true)})
		svc := e.NewService()
		if err := svc.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		assertNoVMs(t, e, svc)
	})
}

func cancelled() context.Context {
	c, cancel := context.WithCancel(ctx)
	cancel()
	return c
}

func assertNoVMs(t *testing.T, e *vmtest.Env, svc *vm.Service) {
	t.Helper()
	infos, err := svc.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		t.Errorf("VM %s is still listed (state %s)", in.Name, in.State)
	}
	if l := leaks(t, e, svc); len(l) > 0 {
		t.Errorf("leaked: %v", l)
	}
}

// TestConcurrentCreates: 20 concurrent creates end with 20 distinct names,
// addresses, MACs and CIDs and no error; 20 concurrent create/start/delete
// cycles leave nothing behind.
func TestConcurrentCreates(t *testing.T) {
	const n = 20
	e := vmtest.New(t)
	infos, errs := make([]vm.Info, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { infos[i], errs[i] = e.Service.Create(ctx, vm.CreateRequest{NoStart: true}, nil) })
	}
	wg.Wait()
	seen := map[string]string{}
	collisions := 0
	for i, in := range infos {
		if errs[i] != nil {
			t.Errorf("create %d: %v", i, errs[i])
			continue
		}
		for _, k := range []string{"name " + in.Name, "ip " + in.IP, "mac " + in.MAC, fmt.Sprintf("cid %d", in.GuestCID)} {
			if other, dup := seen[k]; dup {
				collisions++
				t.Errorf("%s is shared by %s and %s", k, other, in.ID)
			}
			seen[k] = in.ID
		}
	}
	t.Logf("%d concurrent creates: %d errors, %d collisions", n, countErrs(errs), collisions)
	for i := range n {
		wg.Go(func() { errs[i] = e.Service.Delete(ctx, infos[i].ID) })
	}
	wg.Wait()
	for i := range n {
		wg.Go(func() {
			in, err := e.Service.Create(ctx, vm.CreateRequest{NAT: ptr(i%2 == 0)}, nil)
			if err == nil {
				err = e.Service.Delete(ctx, in.ID)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	t.Logf("%d concurrent create/delete cycles: %d errors", n, countErrs(errs))
	for i, err := range errs {
		if err != nil {
			t.Errorf("cycle %d: %v", i, err)
		}
	}
	assertNoVMs(t, e, e.Service)
}

func countErrs(errs []error) int {
	n := 0
	for _, err := range errs {
		if err != nil {
			n++
		}
	}
	return n
}

// TestReconcileReleasesBackendResources: for a run whose process is gone,
// or that a crash stopped before its VMM started, reconcile has the
// backend undo what the run left (loop devices, device-mapper tables),
// pointing it at the run's directory.
func TestReconcileReleasesBackendResources(t *testing.T) {
	e := vmtest.New(t)
	in := create(t, e, vm.CreateRequest{Name: "gone"})
	e.VMM.HoldWait(in.PID) // the old daemon's watcher does not see the exit
	e.VMM.Exit(in.PID)
	crashed := crashAt(t, e.Service, crashpoint.StartNet)
	other := create(t, e, vm.CreateRequest{Name: "cut", NoStart: true})
	go func() { _, _ = e.Service.Start(ctx, "cut", nil) }()
	<-crashed
	if err := e.NewService().Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, h := range e.VMM.Releases() {
		got[filepath.Dir(h.Control)] = true
	}
	for _, id := range []string{in.ID, other.ID} {
		if !got[e.RunDir(id)] {
			t.Errorf("no release of the run in %s; releases %+v", e.RunDir(id), e.VMM.Releases())
		}
	}
}
