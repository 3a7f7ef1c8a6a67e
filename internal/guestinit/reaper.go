package guestinit

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Reaper is PID 1's wait4(-1) loop. Orphans are reaped and forgotten;
// processes started through Start get their own exit status, because
// Start registers the pid under the same lock the loop reaps under, so
// the loop can never reap a pid before it is claimed. It implements
// guestssh.Starter. While it runs, every process the agent starts must go
// through Start: exec.Cmd.Wait would find its child already reaped.
type Reaper struct {
	mu      sync.Mutex
	waiting map[int]chan syscall.WaitStatus
	orphans int
}

// NewReaper returns a Reaper; call Run to start reaping.
func NewReaper() *Reaper { return &Reaper{waiting: map[int]chan syscall.WaitStatus{}} }

// Run reaps on every SIGCHLD until ctx ends.
func (r *Reaper) Run(ctx context.Context) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGCHLD)
	defer signal.Stop(sig)
	for {
		r.reap() // also catches children that exited before Notify
		select {
		case <-ctx.Done():
			return
		case <-sig:
		}
	}
}

// Start starts cmd and returns where its exit status will be sent.
func (r *Reaper) Start(cmd *exec.Cmd) (<-chan syscall.WaitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := make(chan syscall.WaitStatus, 1)
	r.waiting[cmd.Process.Pid] = ch
	return ch, nil
}

// Orphans counts the processes reaped that nobody waited for.
func (r *Reaper) Orphans() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.orphans
}

func (r *Reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		if ch, ok := r.waiting[pid]; ok {
			ch <- syscall.WaitStatus(ws)
			delete(r.waiting, pid)
			continue
		}
		r.orphans++
	}
}
