package vm_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"banger/internal/crashpoint"
	"banger/internal/vm"
	"banger/internal/vm/vmtest"
)

// crashAt makes svc freeze at step, as a killed daemon would: nothing
// after the step runs, no deferred rollback either, until the test ends.
// The returned channel receives once the step is reached. The old
// service's watchers stay blocked on the VM's lock the frozen operation
// holds.
func crashAt(t *testing.T, svc *vm.Service, step string) <-chan struct{} {
	t.Helper()
	h, err := crashpoint.Parse(step)
	if err != nil {
		t.Fatal(err)
	}
	crashed := make(chan struct{}, 1)
	end := make(chan struct{})
	// Registered after the Env's cleanups, so it runs before them: the
	// frozen goroutine ends, letting the old service close.
	t.Cleanup(func() { close(end) })
	svc.Crash = h.WithExit(func() {
		crashed <- struct{}{}
		<-end // the daemon is dead: this goroutine does nothing more
		runtime.Goexit()
	})
	return crashed
}

// leaks lists what a daemon left on the (fake) host that no VM of svc
// accounts for: taps and NAT rules of VMs that do not run, VMM processes
// no running VM owns, files outside a live VM's directories, and rows
// whose files are missing.
func leaks(t *testing.T, e *vmtest.Env, svc *vm.Service) []string {
	t.Helper()
	infos, err := svc.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	taps, nat, pids, ids, running := map[string]bool{}, map[string]bool{}, map[int]bool{}, map[string]bool{}, map[string]bool{}
	for _, in := range infos {
		ids[in.ID] = true
		if in.Running {
			taps[in.Tap], pids[in.PID], running[in.ID] = true, true, true
			nat[in.IP] = in.NAT
		}
		for _, f := range []string{"work.ext4", vmtest.RootDiskName} {
			if !vmtest.Exists(filepath.Join(e.VMDir(in.ID), f)) {
				out = append(out, fmt.Sprintf("row %s names missing %s", in.Name, f))
			}
		}
	}
	for _, tap := range e.Links.Taps() {
		if !taps[tap] {
			out = append(out, "tap "+tap)
		}
	}
	addrs, _ := e.NAT.List(ctx)
	for _, a := range addrs {
		if !nat[a.String()] {
			out = append(out, "nat rule "+a.String())
		}
	}
	for _, pid := range e.VMM.Running() {
		if !pids[pid] {
			out = append(out, fmt.Sprintf("vmm process %d", pid))
		}
	}
	out = append(out, strayDirs(svc.VMsDir, ids)...)
	return append(out, strayDirs(svc.RuntimeDir, running)...)
}

func strayDirs(dir string, known map[string]bool) []string {
	var out []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !known[e.Name()] {
			out = append(out, "file "+filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// TestCrashAtEveryStepLeavesNothing crashes the VM service at every step
// of create, start, stop and delete, starts a new service over the same
// store and host (as a restarted daemon), and checks that nothing leaked
// and that the VM, if it still exists, starts and deletes normally.
//
// The fake VMM's processes are not OS processes, so the kill of a VMM no
// handles name (start.vmm) is left to TestReconcileKillsStrayVMM and the
// end-to-end suite; here the fake process that step leaves is killed by
// hand before counting.
func TestCrashAtEveryStepLeavesNothing(t *testing.T) {
	ops := map[string]func(e *vmtest.Env, svc *vm.Service) error{
		"create": func(e *vmtest.Env, svc *vm.Service) error {
			_, err := svc.Create(ctx, vm.CreateRequest{Name: "victim", NoStart: true}, nil)
			return err
		},
		"start": func(e *vmtest.Env, svc *vm.Service) error {
			_, err := svc.Create(ctx, vm.CreateRequest{Name: "victim", NAT: ptr(true)}, nil)
			return err
		},
		"stop": func(e *vmtest.Env, svc *vm.Service) error {
			_, err := svc.Stop(ctx, "victim", nil)
			return err
		},
		"delete": func(e *vmtest.Env, svc *vm.Service) error { return svc.Delete(ctx, "victim") },
	}
	steps := 0
	for _, step := range crashpoint.Steps() {
		op := strings.Split(step, ".")[0]
		if ops[op] == nil {
			continue
		}
		steps++
		t.Run(step, func(t *testing.T) {
			e := vmtest.New(t)
			if op == "stop" || op == "delete" {
				create(t, e, vm.CreateRequest{Name: "victim", NAT: ptr(true)})
			}
			before := e.VMM.Running()
			crashed := crashAt(t, e.Service, step)
			done := make(chan error, 1)
			go func() { done <- ops[op](e, e.Service) }()
			select {
			case <-crashed:
			case err := <-done:
				t.Fatalf("%s ended (%v) without reaching %s", op, err, step)
			}
			if step == crashpoint.StartVMM {
				for _, pid := range e.VMM.Running() {
					if !slices.Contains(before, pid) {
						e.VMM.Exit(pid)
					}
				}
			}
			svc := e.NewService()
			if err := svc.Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
			if l := leaks(t, e, svc); len(l) > 0 {
				t.Errorf("after a crash at %s and a restart, leaked: %v", step, l)
			}
			usable(t, e, svc)
		})
	}
	t.Logf("steps crashed: %d", steps)
}

// usable starts and deletes every VM svc knows, then checks nothing is
// left.
func usable(t *testing.T, e *vmtest.Env, svc *vm.Service) {
	t.Helper()
	infos, _ := svc.List(ctx)
	for _, in := range infos {
		if _, err := svc.Start(ctx, in.Name, nil); err != nil {
			t.Errorf("start %s after the crash: %v", in.Name, err)
		}
		if err := svc.Delete(ctx, in.Name); err != nil {
			t.Errorf("delete %s after the crash: %v", in.Name, err)
		}
	}
	if l := leaks(t, e, svc); len(l) > 0 {
		t.Errorf("after start and delete: %v", l)
	}
}

func ptr[T any](v T) *T { return &v }
