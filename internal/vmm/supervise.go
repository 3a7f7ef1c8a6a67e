package vmm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
