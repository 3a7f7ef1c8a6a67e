package vmm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"banger/internal/poll"
)

// Launch describes a VMM process for Supervisor.Start: what differs between
// backends is the command line, how readiness shows, and what the log and
// the control channel are called in errors.
type Launch struct {
	VM      string   // VM id, for logs
	Argv    []string // program and arguments
	Dir     string   // working directory
	LogPath string   // receives stdout and stderr; truncated first
	LogName string   // how errors name the log, e.g. "qemu.log"
	// Ready returns nil once the process accepts control commands, else
	// why not yet. It is polled every Every until Timeout.
	Ready   func(ctx context.Context) error
	Every   time.Duration
	Timeout time.Duration
	// What names what Ready waits for in errors, e.g. "its QMP socket".
	What string
}

// Proc is a process Start launched and saw become ready.
type Proc struct {
	PID       int
	StartTime uint64 // /proc/<pid>/stat field 22, see Handle
	s         *Supervisor
	cmd       *exec.Cmd
	exited    <-chan struct{}
	logPath   string
	logName   string
}

// LogTail is the end of the process's log, formatted for an error.
func (p *Proc) LogTail() string { return LogTail(p.logName, p.logPath) }

// Abort kills the process and waits (up to 5s) for it to be reaped; a
// backend calls it when a step after readiness fails.
func (p *Proc) Abort() {
	_ = p.cmd.Process.Kill()
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		p.s.log().Warn(p.s.Name+" did not exit after SIGKILL", "pid", p.PID)
	}
}

// Start launches l's process detached, in its own session so that it
// outlives the caller's context and the daemon, with its output in the log.
// It returns once Ready succeeds; if the process exits first, or Ready
// does not succeed in time, the process is killed and the error carries
// the end of the log.
func (s *Supervisor) Start(ctx context.Context, l Launch) (*Proc, error) {
	logFile, err := os.OpenFile(l.LogPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	cmd := exec.Command(l.Argv[0], l.Argv[1:]...)
	cmd.Stdout, cmd.Stderr, cmd.Dir = logFile, logFile, l.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	s.log().Debug("starting "+s.Name, "vm", l.VM, "argv", l.Argv)
	err = cmd.Start()
	logFile.Close() // the child has its own copy
	if err != nil {
		return nil, err
	}
	p := &Proc{PID: cmd.Process.Pid, s: s, cmd: cmd, exited: s.Track(cmd), logPath: l.LogPath, logName: l.LogName}
	if err := s.waitReady(ctx, l, p.exited); err != nil {
		p.Abort()
		return nil, fmt.Errorf("%w%s", err, p.LogTail())
	}
	// The process answered, so pid is still our child and cannot have been reused.
	if p.StartTime, err = ProcessStartTime(p.PID); err != nil {
		p.Abort()
		return nil, fmt.Errorf("%w%s", err, p.LogTail())
	}
	return p, nil
}

// waitReady polls l.Ready until it succeeds, the process exits or the
// start deadline passes.
func (s *Supervisor) waitReady(ctx context.Context, l Launch, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	var last error
	err := poll.Until(ctx, l.Every, exited, func(ctx context.Context) (bool, error) {
		last = l.Ready(ctx)
		return last == nil, nil
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, poll.ErrExited):
		return fmt.Errorf("%s exited before %s came up", s.Name, l.What)
	case last != nil:
		return fmt.Errorf("wait for %s: %w (last error: %v)", l.What, err, last)
	}
	return fmt.Errorf("wait for %s: %w", l.What, err)
}
