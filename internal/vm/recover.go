package vm

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"banger/internal/crashpoint"
	"banger/internal/poll"
	"banger/internal/store"
	"banger/internal/vmm"
)

// recordStart makes the run's directory and records the run in it as an
// intent (handles.json with no process yet) before the tap, the firewall
// and NAT rules and the VMM process exist. A daemon that crashes before
// the real handles replace it finds the intent at start and removes what
// it names (see Reconcile). Undoing removes the directory.
func (s *Service) recordStart(v store.VM, plan bootPlan, u *undo) error {
	dir := plan.cfg.Dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	u.push(func() { _ = os.RemoveAll(dir) })
	// No process yet: Control only says where the run's files are, for
	// the backend's cleanup (see releaser).
	h := vmm.Handle{Backend: v.Backend, Control: filepath.Join(dir, "intent")}
	rt := &runtime{Handle: h, Tap: plan.net.Tap, IP: v.IP, NAT: v.NAT}
	if err := writeHandles(dir, rt); err != nil {
		return err
	}
	s.Crash.At(crashpoint.StartIntent)
	return nil
}

// releaser is the backend capability of undoing what a run left on the
// host (loop devices, device-mapper tables, sockets) once its process is
// gone or when it never started (vmm.Lifecycle provides it).
type releaser interface {
	Release(ctx context.Context, h vmm.Handle)
}

// release runs b's cleanup for a run whose process is gone.
func release(ctx context.Context, b vmm.VMM, h vmm.Handle) {
	if r, ok := b.(releaser); ok {
		r.Release(ctx, h)
	}
}

// removeUnfinished deletes the VMs whose intent says a crash cut their
// create off, or that lived only for a request (--rm) that the crash
// ended. It returns the VMs that remain.
func (s *Service) removeUnfinished(ctx context.Context, vms []store.VM) []store.VM {
	kept := vms[:0:0]
	for _, v := range vms {
		in := readIntent(s.vmDir(v.ID))
		if !in.Creating && !in.Remove {
			kept = append(kept, v)
			continue
		}
		s.Log.InfoContext(ctx, "deleting VM left by a crash", "vm", v.Name, "creating", in.Creating, "rm", in.Remove)
		unlock := s.lock(v.ID)
		err := s.deleteLocked(ctx, v)
		unlock()
		if err != nil {
			s.Log.WarnContext(ctx, "delete VM left by a crash", "vm", v.Name, "err", err)
			kept = append(kept, v)
		}
	}
	return kept
}

// removeStrayVMDirs removes the VM directories that no row names: a create
// cut off before its row, or a delete cut off after it.
func (s *Service) removeStrayVMDirs(ctx context.Context, vms []store.VM) {
	known := map[string]bool{}
	for _, v := range vms {
		known[v.ID] = true
	}
	entries, _ := os.ReadDir(s.VMsDir)
	for _, e := range entries {
		if e.IsDir() && !known[e.Name()] && !strings.HasPrefix(e.Name(), ".") {
			s.Log.InfoContext(ctx, "removing files of a VM that does not exist", "dir", e.Name())
			_ = os.RemoveAll(filepath.Join(s.VMsDir, e.Name()))
		}
	}
}

// killStrayVMMs kills the VMM processes started in a VM's runtime
// directory that no adopted run owns: a crash between the process's start
// and the write of its handles leaves one running that nothing records.
// A process counts only when its working directory is <RuntimeDir>/<id>
// and its command line names that directory, as every backend's does.
func (s *Service) killStrayVMMs(ctx context.Context) {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		id, ok := s.runDirOf(pid)
		if !ok || s.runs.get(id) != nil {
			continue
		}
		s.Log.InfoContext(ctx, "killing a VMM process that no VM owns", "pid", pid, "id", id)
		start, err := vmm.ProcessStartTime(pid)
		if err != nil {
			continue
		}
		_ = vmm.SignalProcess(pid, start, syscall.SIGKILL)
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_ = poll.Until(wctx, 50*time.Millisecond, nil, func(context.Context) (bool, error) {
			return !vmm.Alive(pid, start), nil
		})
		cancel()
	}
}

// runDirOf returns the VM id whose runtime directory pid runs in.
func (s *Service) runDirOf(pid int) (string, bool) {
	base := filepath.Join("/proc", strconv.Itoa(pid))
	cwd, err := os.Readlink(filepath.Join(base, "cwd"))
	if err != nil {
		return "", false
	}
	cwd = strings.TrimSuffix(cwd, " (deleted)")
	if filepath.Dir(cwd) != filepath.Clean(s.RuntimeDir) {
		return "", false
	}
	cmdline, err := os.ReadFile(filepath.Join(base, "cmdline"))
	if err != nil || !bytes.Contains(cmdline, []byte(cwd+"/")) {
		return "", false
	}
	return filepath.Base(cwd), true
}
