package vm

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/store"
	"banger/internal/vmm"
)

// Reconcile runs once when the daemon starts: VMs whose VMM process still
// runs are adopted, the others are marked stopped and their taps, NAT rules
// and runtime files removed (a run recorded only as an intent, see
// recordStart, included). VMs whose create a crash cut off, and --rm VMs,
// are deleted. VMM processes that no VM owns are killed, and files of VMs
// that do not exist removed. Taps of ours that no VM owns are deleted, and
// so are NAT and tap rules no running VM owns; the adopted VMs get theirs
// installed again.
func (s *Service) Reconcile(ctx context.Context) error {
	vms, err := s.Store.ListVMs(ctx)
	if err != nil {
		return err
	}
	for _, v := range vms {
		s.reconcileVM(ctx, v)
	}
	vms = s.removeUnfinished(ctx, vms)
	s.killStrayVMMs(ctx)
	owned := map[string]bool{}
	var running []attachment
	for _, v := range vms {
		if rt := s.runs.get(v.ID); rt != nil {
			owned[rt.Tap] = true
			running = append(running, rt.attachment())
		}
	}
	s.Net.sweepTaps(ctx, owned)
	s.Net.reapply(ctx, running)
	s.Net.sweepRules(ctx, running)
	s.removeStrayRunDirs(vms)
	s.removeStrayVMDirs(ctx, vms)
	return nil
}

// reconcileVM adopts v when its process still runs, or cleans up after it
// (a run that never got its process leaves the VM's state as it was).
func (s *Service) reconcileVM(ctx context.Context, v store.VM) {
	rt, err := readHandles(s.runDir(v.ID))
	if err != nil {
		if v.State == store.VMStateRunning {
			s.Log.InfoContext(ctx, "vm has no runtime handles; marking stopped", "vm", v.Name)
			_ = s.Store.UpdateVMState(ctx, v.ID, store.VMStateStopped)
		}
		return
	}
	b, berr := s.backend(rt.Handle.Backend)
	alive := false
	if berr == nil {
		st, _ := b.Status(ctx, rt.Handle)
		alive = st == vmm.StateRunning
	}
	if !alive {
		s.Log.InfoContext(ctx, "vm process is gone; cleaning up", "vm", v.Name, "pid", rt.Handle.PID)
		if berr == nil {
			release(ctx, b, rt.Handle)
		}
		s.cleanup(ctx, v.ID, rt)
		if rt.Handle.PID != 0 || v.State == store.VMStateRunning {
			_ = s.Store.UpdateVMState(ctx, v.ID, store.VMStateStopped)
		}
		return
	}
	rt.console = s.adoptConsole(v.ID)
	s.runs.add(v.ID, rt)
	if v.State != store.VMStateRunning {
		_ = s.Store.UpdateVMState(ctx, v.ID, store.VMStateRunning)
	}
	s.runs.watch(s.runs.exitOf(b, rt.Handle), func() { s.onExit(v.ID, rt) })
	s.Log.InfoContext(ctx, "adopted running vm", "vm", v.Name, "pid", rt.Handle.PID)
}

// removeStrayRunDirs removes the runtime dirs of VMs that no longer exist.
func (s *Service) removeStrayRunDirs(vms []store.VM) {
	entries, _ := os.ReadDir(s.RuntimeDir)
	known := map[string]bool{}
	for _, v := range vms {
		known[v.ID] = true
	}
	for _, e := range entries {
		if e.IsDir() && !known[e.Name()] && !strings.HasPrefix(e.Name(), ".") {
			_ = os.RemoveAll(filepath.Join(s.RuntimeDir, e.Name()))
		}
	}
}
