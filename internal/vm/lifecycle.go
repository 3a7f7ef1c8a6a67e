package vm

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/forward"
	"banger/internal/progress"
	"banger/internal/sshkey"
	"banger/internal/store"
	"banger/internal/vmm"
)

func (s *Service) runtimeOf(id string) *runtime {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	return s.running[id]
}

// Stop shuts a VM down gracefully, killing it after the stop timeout.
func (s *Service) Stop(ctx context.Context, name string, p progress.Func) (Info, error) {
	return s.halt(ctx, name, false, p)
}

// Kill ends a VM's process at once.
func (s *Service) Kill(ctx context.Context, name string, p progress.Func) (Info, error) {
	return s.halt(ctx, name, true, p)
}

func (s *Service) halt(ctx context.Context, name string, force bool, p progress.Func) (Info, error) {
	v, err := s.getVM(ctx, name)
	if err != nil {
		return Info{}, err
	}
	unlock := s.lock(v.ID)
	defer unlock()
	if err := s.haltLocked(ctx, v, force, p); err != nil {
		return Info{}, err
	}
	v, err = s.Store.GetVM(ctx, v.ID)
	if err != nil {
		return Info{}, err
	}
	return s.info(ctx, v), nil
}

func (s *Service) haltLocked(ctx context.Context, v store.VM, force bool, p progress.Func) error {
	rt := s.runtimeOf(v.ID)
	if rt == nil {
		if v.State == "running" {
			return s.Store.UpdateVMState(ctx, v.ID, "stopped")
		}
		return nil
	}
	b, err := s.backend(rt.Handle.Backend)
	if err != nil {
		return err
	}
	s.runMu.Lock()
	rt.stopping = true
	s.runMu.Unlock()
	if force {
		p.Msg("kill", "killing "+v.Name)
		err = b.Kill(ctx, rt.Handle)
	} else {
		p.Msg("stop", fmt.Sprintf("stopping %s (up to %s, then killed)", v.Name, s.StopTimeout))
		err = b.Stop(ctx, rt.Handle, s.StopTimeout)
	}
	if err != nil && !errors.Is(err, vmm.ErrNotRunning) {
		s.runMu.Lock()
		rt.stopping = false
		s.runMu.Unlock()
		return fmt.Errorf("stop %s: %w", v.Name, err)
	}
	s.cleanup(context.WithoutCancel(ctx), v.ID, rt)
	s.Log.InfoContext(ctx, "vm stopped", "vm", v.Name, "forced", force)
	return s.Store.UpdateVMState(ctx, v.ID, "stopped")
}

// Restart stops and starts a VM.
func (s *Service) Restart(ctx context.Context, name string, p progress.Func) (Info, error) {
	if _, err := s.Stop(ctx, name, p); err != nil {
		return Info{}, err
	}
	return s.Start(ctx, name, p)
}

// Delete kills a VM if it runs and removes every file and record of it.
func (s *Service) Delete(ctx context.Context, name string) error {
	_, err := s.delete(ctx, name, false)
	return err
}

// delete removes a VM; with onlyStopped it leaves a running VM alone (the
// check is made under the VM's lock, so a VM started meanwhile is safe).
func (s *Service) delete(ctx context.Context, name string, onlyStopped bool) (bool, error) {
	v, err := s.getVM(ctx, name)
	if err != nil {
		return false, err
	}
	unlock := s.lock(v.ID)
	defer unlock()
	if onlyStopped && s.isRunning(v.ID) {
		return false, nil
	}
	return true, s.deleteLocked(ctx, v)
}

func (s *Service) deleteLocked(ctx context.Context, v store.VM) error {
	if err := s.haltLocked(ctx, v, true, nil); err != nil {
		return err
	}
	if err := os.RemoveAll(s.vmDir(v.ID)); err != nil {
		return fmt.Errorf("delete files of %s: %w", v.Name, err)
	}
	_ = os.RemoveAll(s.runDir(v.ID))
	if err := s.KnownHosts.Forget(sshkey.Alias(v.ID)); err != nil {
		s.Log.WarnContext(ctx, "forget host key", "vm", v.Name, "err", err)
	}
	if err := s.Store.DeleteVM(ctx, v.ID); err != nil {
		return fmt.Errorf("delete %s: %w", v.Name, err)
	}
	s.Log.InfoContext(ctx, "vm deleted", "vm", v.Name, "id", v.ID)
	s.changed(ctx)
	return nil
}

// Prune deletes every VM that is not running.
func (s *Service) Prune(ctx context.Context) ([]string, error) {
	vms, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	var deleted []string
	for _, v := range vms {
		if v.Running {
			continue
		}
		done, err := s.delete(ctx, v.ID, true)
		if err != nil {
			return deleted, err
		}
		if done {
			deleted = append(deleted, v.Name)
		}
	}
	return deleted, nil
}

// ConsoleLog returns the path of a VM's serial console log.
func (s *Service) ConsoleLog(ctx context.Context, name string) (string, error) {
	v, err := s.getVM(ctx, name)
	if err != nil {
		return "", err
	}
	return s.consoleLog(v.ID), nil
}

// SSHTarget says how to reach a running VM.
type SSHTarget struct {
	Name, Host, KeyPath, KnownHosts, Alias string
}

// Target returns the SSH target of a running VM.
func (s *Service) Target(ctx context.Context, name string) (SSHTarget, error) {
	in, err := s.Get(ctx, name)
	if err != nil {
		return SSHTarget{}, err
	}
	if !in.Running {
		return SSHTarget{}, badRequest("VM %s is %s; start it with `banger vm start %s`", in.Name, in.State, in.Name)
	}
	return SSHTarget{Name: in.Name, Host: in.IP, KeyPath: s.KeyPath, KnownHosts: s.KnownHosts.Path, Alias: sshkey.Alias(in.ID)}, nil
}

// Reconcile runs once when the daemon starts: VMs whose VMM process still
// runs are adopted, the others are marked stopped and their taps, NAT rules
// and runtime files removed. Taps of ours that no VM owns are deleted.
func (s *Service) Reconcile(ctx context.Context) error {
	vms, err := s.Store.ListVMs(ctx)
	if err != nil {
		return err
	}
	owned := map[string]bool{}
	for _, v := range vms {
		rt, err := readHandles(s.runDir(v.ID))
		if err != nil {
			if v.State == "running" {
				s.Log.InfoContext(ctx, "vm has no runtime handles; marking stopped", "vm", v.Name)
				_ = s.Store.UpdateVMState(ctx, v.ID, "stopped")
			}
			continue
		}
		b, berr := s.backend(rt.Handle.Backend)
		alive := false
		if berr == nil {
			st, _ := b.Status(ctx, rt.Handle)
			alive = st == vmm.StateRunning
		}
		if !alive {
			s.Log.InfoContext(ctx, "vm process is gone; cleaning up", "vm", v.Name, "pid", rt.Handle.PID)
			s.cleanup(ctx, v.ID, rt)
			_ = s.Store.UpdateVMState(ctx, v.ID, "stopped")
			continue
		}
		owned[rt.Tap] = true
		rt.done = make(chan struct{})
		s.runMu.Lock()
		if s.running == nil {
			s.running = map[string]*runtime{}
		}
		s.running[v.ID] = rt
		s.runMu.Unlock()
		if v.State != "running" {
			_ = s.Store.UpdateVMState(ctx, v.ID, "running")
		}
		exited := make(chan struct{})
		go func(h vmm.Handle) {
			_ = b.Wait(context.Background(), h)
			close(exited)
		}(rt.Handle)
		go s.watch(v.ID, rt, exited)
		s.Log.InfoContext(ctx, "adopted running vm", "vm", v.Name, "pid", rt.Handle.PID)
	}
	taps, err := s.Links.ListTaps(ctx, s.TapPrefix)
	if err != nil {
		return nil // no bridge yet, nothing to clean
	}
	for _, t := range taps {
		if owned[t] {
			continue
		}
		// Only taps nobody holds open: another daemon on this host may
		// run VMs on taps with our prefix.
		if deleted, err := s.Links.DeleteUnusedTap(ctx, t); deleted {
			s.Log.InfoContext(ctx, "removed leftover tap", "tap", t)
		} else if err != nil {
			s.Log.WarnContext(ctx, "leftover tap", "tap", t, "err", err)
		}
	}
	// Runtime dirs of VMs that no longer exist.
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
	return nil
}

// SetWorkspace records which repository a VM holds and where.
func (s *Service) SetWorkspace(ctx context.Context, name string, ws store.Workspace) error {
	v, err := s.getVM(ctx, name)
	if err != nil {
		return err
	}
	if !filepath.IsAbs(ws.HostPath) || !strings.HasPrefix(filepath.Clean(ws.GuestPath)+"/", "/root/") || filepath.Clean(ws.GuestPath) == "/root" {
		return badRequest("workspace paths: host path must be absolute and guest path under /root, got %q and %q", ws.HostPath, ws.GuestPath)
	}
	ws.VMID = v.ID
	ws.GuestPath = filepath.Clean(ws.GuestPath)
	return s.Store.SetWorkspace(ctx, ws)
}

// Forward forwards a host port to a running VM. The returned channel closes
// when the VM stops (the forward is then already removed).
func (s *Service) Forward(ctx context.Context, name string, sp forward.Spec) (*forward.Forward, <-chan struct{}, error) {
	v, err := s.getVM(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	unlock := s.lock(v.ID)
	defer unlock()
	rt := s.runtimeOf(v.ID)
	if rt == nil {
		return nil, nil, badRequest("VM %s is not running; start it with `banger vm start %s`", v.Name, v.Name)
	}
	ip, err := netip.ParseAddr(v.IP)
	if err != nil {
		return nil, nil, err
	}
	f, err := s.Forwards.Add(v.ID, v.Name, sp, ip)
	if err != nil {
		return nil, nil, badRequest("%v", err)
	}
	return f, rt.done, nil
}

// SetRequest changes a VM's settings; nil fields stay as they are.
type SetRequest struct {
	VCPUs     *int
	MemoryMiB *int
	NAT       *bool
}

// Set changes a VM's vCPUs and memory (while it is stopped; they apply at
// the next start) and its NAT (at once when it runs).
func (s *Service) Set(ctx context.Context, name string, req SetRequest) (Info, error) {
	v, err := s.getVM(ctx, name)
	if err != nil {
		return Info{}, err
	}
	unlock := s.lock(v.ID)
	defer unlock()
	rt := s.runtimeOf(v.ID)
	if rt != nil && (req.VCPUs != nil || req.MemoryMiB != nil) {
		return Info{}, badRequest("VM %s is running: stop it first (`banger vm stop %s`) to change --vcpu or --memory", v.Name, v.Name)
	}
	if (req.VCPUs != nil && *req.VCPUs < 1) || (req.MemoryMiB != nil && *req.MemoryMiB < 1) {
		return Info{}, badRequest("--vcpu and --memory must be positive")
	}
	next := CreateRequest{Name: v.Name, Image: v.ImageID, VCPUs: v.VCPUs, MemoryMiB: v.MemoryMiB, DiskBytes: v.DiskBytes}
	if req.VCPUs != nil {
		next.VCPUs = *req.VCPUs
	}
	if req.MemoryMiB != nil {
		next.MemoryMiB = *req.MemoryMiB
	}
	if err := s.validate(&next); err != nil {
		return Info{}, err
	}
	nat := v.NAT
	if req.NAT != nil {
		nat = *req.NAT
	}
	if rt != nil && nat != v.NAT {
		ip, err := netip.ParseAddr(v.IP)
		if err != nil {
			return Info{}, err
		}
		if nat {
			err = s.NAT.Enable(ctx, ip, s.Bridge)
		} else {
			err = s.NAT.Disable(ctx, ip)
		}
		if err != nil {
			return Info{}, fmt.Errorf("set nat of %s: %w", v.Name, err)
		}
		s.runMu.Lock()
		rt.NAT = nat
		s.runMu.Unlock()
		if err := writeHandles(s.runDir(v.ID), rt); err != nil {
			return Info{}, err
		}
	}
	if err := s.Store.UpdateVMSpec(ctx, v.ID, next.VCPUs, next.MemoryMiB, nat); err != nil {
		return Info{}, err
	}
	s.Log.InfoContext(ctx, "vm settings changed", "vm", v.Name, "vcpus", next.VCPUs, "memory_mib", next.MemoryMiB, "nat", nat)
	if v, err = s.Store.GetVM(ctx, v.ID); err != nil {
		return Info{}, err
	}
	return s.info(ctx, v), nil
}
