package guestinit

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/poll"
)

// killWait bounds the wait for processes to go after SIGKILL.
const killWait = time.Second

// Shutdown stops every process (SIGTERM, Grace, then SIGKILL), syncs,
// unmounts what Boot mounted in reverse order, remounts / read-only and
// powers off. On a real machine it does not return unless reboot(2)
// fails.
func (in *Init) Shutdown(ctx context.Context) error {
	in.stopAll(ctx)
	in.Host.Sync()
	var errs []error
	for i := len(in.mounted) - 1; i >= 0; i-- {
		t := in.mounted[i].Target
		if err := in.Host.Unmount(t); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", t, err))
		}
	}
	if err := in.Host.Mount(Mount{Target: "/", Flags: unix.MS_REMOUNT | unix.MS_RDONLY}); err != nil {
		errs = append(errs, fmt.Errorf("remount / read-only: %w", err))
	}
	in.Host.Sync()
	for _, err := range errs {
		in.Log.Warn("shutdown", "err", err)
	}
	if err := in.Host.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF); err != nil {
		return errors.Join(append(errs, fmt.Errorf("power off: %w", err))...)
	}
	return errors.Join(errs...)
}

// stopAll signals every process but init and waits for them to be gone.
func (in *Init) stopAll(ctx context.Context) {
	grace := in.Grace
	if grace == 0 {
		grace = 5 * time.Second
	}
	_ = in.Host.Kill(-1, syscall.SIGTERM)
	if in.waitGone(ctx, grace) {
		return
	}
	in.Log.Warn("processes left after SIGTERM: sending SIGKILL", "grace", grace)
	_ = in.Host.Kill(-1, syscall.SIGKILL)
	in.waitGone(ctx, killWait)
}

// waitGone waits up to d for init to have no children (PID 1 inherits
// every orphan, so that is every process); the reaper reaps them.
func (in *Init) waitGone(ctx context.Context, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	err := poll.Until(ctx, 20*time.Millisecond, nil, func(context.Context) (bool, error) {
		return !in.Host.HasChildren(), nil
	})
	return err == nil
}
