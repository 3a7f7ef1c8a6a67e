package vmm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"banger/internal/poll"
)

// Supervisor is the process lifecycle every backend shares: it starts a
// VMM process detached with its log and waits until it is ready (Start),
// reaps the processes it started, waits for ones adopted after a daemon
// restart by polling /proc, reports their status, and stops them
// gracefully or by force. Backends keep only what differs: the command
// line, how readiness shows and the graceful-stop request. The zero value
// is ready to use.
type Supervisor struct {
	Name string // "qemu", "firecracker": used in errors and logs
	Log  *slog.Logger

	mu       sync.Mutex
	children map[int]chan struct{} // pid -> closed once cmd.Wait returned
}

func (s *Supervisor) log() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

// Track reaps a started cmd in the background and returns a channel closed
// when it has exited.
func (s *Supervisor) Track(cmd *exec.Cmd) <-chan struct{} {
	done := make(chan struct{})
	pid := cmd.Process.Pid
	s.mu.Lock()
	if s.children == nil {
		s.children = map[int]chan struct{}{}
	}
	s.children[pid] = done
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		s.log().Debug(s.Name+" exited", "pid", pid, "err", err)
		s.mu.Lock()
		delete(s.children, pid)
		s.mu.Unlock()
		close(done)
	}()
	return done
}

// Wait blocks until the process behind h has exited or ctx ends.
func (s *Supervisor) Wait(ctx context.Context, h Handle) error {
	s.mu.Lock()
	done, ok := s.children[h.PID]
	s.mu.Unlock()
	if ok {
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return poll.Until(ctx, 100*time.Millisecond, nil, func(context.Context) (bool, error) {
		return !Alive(h.PID, h.StartTime), nil
	})
}

// Reap gives the reaper a moment to collect an exited child, so the pid is
// not left as a zombie.
func (s *Supervisor) Reap(pid int) {
	s.mu.Lock()
	done, ok := s.children[pid]
	s.mu.Unlock()
	if !ok {
		return
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
}

// Status reports whether the process behind h is alive.
func (s *Supervisor) Status(h Handle) State {
	if Alive(h.PID, h.StartTime) {
		return StateRunning
	}
	return StateStopped
}

// Kill sends SIGKILL if the handle's process is still the same one (same
// start time), then waits for it to go. A gone process is not an error.
func (s *Supervisor) Kill(ctx context.Context, h Handle) error {
	err := SignalProcess(h.PID, h.StartTime, syscall.SIGKILL)
	if err != nil && !errors.Is(err, ErrNotRunning) {
		return fmt.Errorf("kill %s pid %d: %w", s.Name, h.PID, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.Wait(wctx, h); err != nil {
		return fmt.Errorf("kill %s pid %d: wait for exit: %w", s.Name, h.PID, err)
	}
	return nil
}

// Stop asks the guest to shut down with graceful, waits up to timeout, and
// kills the process if it is still there. Stopping a gone process is not an
// error.
func (s *Supervisor) Stop(ctx context.Context, h Handle, timeout time.Duration, graceful func(context.Context) error) error {
	if !Alive(h.PID, h.StartTime) {
		s.Reap(h.PID)
		return nil
	}
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err := graceful(gctx)
	cancel()
	if err != nil {
		s.log().Warn(s.Name+" graceful shutdown request failed, killing", "pid", h.PID, "err", err)
	} else {
		wctx, cancel := context.WithTimeout(ctx, timeout)
		err := s.Wait(wctx, h)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("stop %s pid %d: %w", s.Name, h.PID, ctx.Err())
		}
		s.log().Info("guest did not shut down in time, killing", "pid", h.PID, "timeout", timeout)
	}
	if err := s.Kill(ctx, h); err != nil {
		return fmt.Errorf("stop %s pid %d: %w", s.Name, h.PID, err)
	}
	return nil
}

// Tracked is the number of started processes not yet reaped.
func (s *Supervisor) Tracked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.children)
}

// Lifecycle is the part of vmm.VMM that every process-backed backend
// shares: Stop (the backend's graceful request, a wait, then SIGKILL),
// Kill, Wait and Status over a Supervisor, with the backend's cleanup run
// once the process is gone. A backend embeds it and supplies only what
// differs.
type Lifecycle struct {
	Procs *Supervisor
	// Graceful asks the guest to shut down (ACPI power button,
	// Ctrl-Alt-Del); Stop kills the process when it fails or times out.
	Graceful func(ctx context.Context, h Handle) error
	// Cleanup removes what the exited process left behind (sockets,
	// loop devices); nil when there is nothing.
	Cleanup func(ctx context.Context, h Handle)
}

// Stop implements VMM.Stop. Stopping a VM whose process is gone is not an
// error.
func (l *Lifecycle) Stop(ctx context.Context, h Handle, timeout time.Duration) error {
	err := l.Procs.Stop(ctx, h, timeout, func(ctx context.Context) error { return l.Graceful(ctx, h) })
	if err == nil {
		l.cleanup(ctx, h)
	}
	return err
}

// Kill implements VMM.Kill: SIGKILL if the handle's process is still the
// same one, then wait for it to go. Killing a gone process is not an error.
func (l *Lifecycle) Kill(ctx context.Context, h Handle) error {
	if err := l.Procs.Kill(ctx, h); err != nil {
		return err
	}
	l.cleanup(ctx, h)
	return nil
}

// Wait implements VMM.Wait. For a process this daemon started it waits for
// the reaper; for one adopted after a daemon restart it polls /proc.
func (l *Lifecycle) Wait(ctx context.Context, h Handle) error { return l.Procs.Wait(ctx, h) }

// Release runs the backend's cleanup for h without touching a process:
// for a run whose process is gone, or was never started, when the daemon
// finds its handles after a crash. h.Control locates the run's directory.
func (l *Lifecycle) Release(ctx context.Context, h Handle) { l.cleanup(ctx, h) }

// Status implements VMM.Status.
func (l *Lifecycle) Status(_ context.Context, h Handle) (State, error) { return l.Procs.Status(h), nil }

func (l *Lifecycle) cleanup(ctx context.Context, h Handle) {
	if l.Cleanup != nil {
		l.Cleanup(ctx, h)
	}
}

// RemoveFiles removes the named files, ignoring "" and errors: the
// best-effort cleanup of a gone process's sockets and state.
func RemoveFiles(paths ...string) {
	for _, p := range paths {
		if p != "" {
			_ = os.Remove(p)
		}
	}
}
