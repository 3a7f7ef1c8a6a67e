package vm

import (
	"context"
	"errors"
	"fmt"
	"os"

	"banger/internal/crashpoint"
	"banger/internal/progress"
	"banger/internal/sshkey"
	"banger/internal/store"
	"banger/internal/vmm"
)

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
	by := "vm stop"
	if force {
		by = "vm kill"
	}
	s.starting.preempt(v.ID, &PreemptedError{VM: v.Name, By: by})
	unlock := s.lock(v.ID)
	defer unlock()
	if err := s.haltLocked(ctx, v, force, p); err != nil {
		return Info{}, err
	}
	return s.reload(ctx, v.ID)
}

func (s *Service) haltLocked(ctx context.Context, v store.VM, force bool, p progress.Func) error {
	rt := s.runs.get(v.ID)
	if rt == nil {
		if v.State == store.VMStateRunning {
			return s.Store.UpdateVMState(ctx, v.ID, store.VMStateStopped)
		}
		return nil
	}
	b, err := s.backend(rt.Handle.Backend)
	if err != nil {
		return err
	}
	s.runs.setStopping(rt, true)
	if force {
		p.Msg("kill", "killing "+v.Name)
		err = b.Kill(ctx, rt.Handle)
	} else {
		p.Msg("stop", fmt.Sprintf("stopping %s (up to %s, then killed)", v.Name, s.StopTimeout))
		err = b.Stop(ctx, rt.Handle, s.StopTimeout)
	}
	if err != nil && !errors.Is(err, vmm.ErrNotRunning) {
		s.runs.setStopping(rt, false)
		return fmt.Errorf("stop %s: %w", v.Name, err)
	}
	s.Crash.At(crashpoint.StopHalted)
	s.cleanup(context.WithoutCancel(ctx), v.ID, rt)
	s.Crash.At(crashpoint.StopDetached)
	s.Log.InfoContext(ctx, "vm stopped", "vm", v.Name, "forced", force)
	if err := s.Store.UpdateVMState(ctx, v.ID, store.VMStateStopped); err != nil {
		return err
	}
	s.publish(ctx, Event{Kind: VMStopped, ID: v.ID, Name: v.Name})
	return nil
}

// onExit handles the end of a VMM process that exited by itself. rt
// identifies the run: by the time the exit is noticed, the VM may have been
// stopped and started again, and the new run is not this one's to clean.
func (s *Service) onExit(id string, rt *runtime) {
	unlock := s.lock(id)
	defer unlock()
	if !s.runs.isCurrent(id, rt) {
		return
	}
	ctx := context.Background()
	s.Log.Info("vm process exited", "id", id, "pid", rt.Handle.PID)
	s.cleanup(ctx, id, rt)
	_ = s.Store.UpdateVMState(ctx, id, store.VMStateStopped)
	v, _ := s.Store.GetVM(ctx, id)
	s.events.Publish(Event{Kind: VMStopped, ID: id, Name: v.Name})
}

// cleanup undoes the runtime setup of a VM whose process is gone.
func (s *Service) cleanup(ctx context.Context, id string, rt *runtime) {
	s.Net.detach(ctx, id, rt.attachment())
	rt.console.stop()
	_ = os.RemoveAll(s.runDir(id))
	s.runs.remove(id, rt)
	if s.Forwards != nil {
		s.Forwards.RemoveVM(id)
	}
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
	if s.isCreating(v.ID) {
		if onlyStopped {
			return false, nil
		}
		return false, errCreating(v)
	}
	if !onlyStopped { // prune leaves a VM that is starting alone
		s.starting.preempt(v.ID, &PreemptedError{VM: v.Name, By: "vm delete"})
	}
	unlock := s.lock(v.ID)
	defer unlock()
	if onlyStopped && s.runs.get(v.ID) != nil {
		return false, nil
	}
	return true, s.deleteLocked(ctx, v)
}

// deleteLocked removes v: its process, then its row, then its files. A
// crash after the row is gone leaves files that no row names, which
// Reconcile removes; never a row that names missing files.
func (s *Service) deleteLocked(ctx context.Context, v store.VM) error {
	if err := s.haltLocked(ctx, v, true, nil); err != nil {
		return err
	}
	s.Crash.At(crashpoint.DeleteHalted)
	if err := s.Store.DeleteVM(ctx, v.ID); err != nil {
		return fmt.Errorf("delete %s: %w", v.Name, err)
	}
	s.Crash.At(crashpoint.DeleteRow)
	if err := os.RemoveAll(s.vmDir(v.ID)); err != nil {
		s.Log.WarnContext(ctx, "delete files", "vm", v.Name, "err", err)
	}
	_ = os.RemoveAll(s.runDir(v.ID))
	if err := s.Guest.forget(v.ID); err != nil {
		s.Log.WarnContext(ctx, "forget host key", "vm", v.Name, "err", err)
	}
	s.Log.InfoContext(ctx, "vm deleted", "vm", v.Name, "id", v.ID)
	s.publish(ctx, Event{Kind: VMDeleted, ID: v.ID, Name: v.Name})
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

// SSHTarget says how to reach a running VM. Via is ViaAgent when the VM
// is reached through Connect, empty for its sshd on Host.
type SSHTarget struct {
	Name, Host, KeyPath, KnownHosts, Alias string
	Via                                    string
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
	t := SSHTarget{Name: in.Name, Host: in.IP, KeyPath: s.Guest.KeyPath, KnownHosts: s.Guest.KnownHosts.Path, Alias: sshkey.Alias(in.ID)}
	if in.ViaAgent {
		t.Via = ViaAgent
	}
	return t, nil
}
