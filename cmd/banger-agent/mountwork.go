package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"banger/internal/guestinit"
)

// mountWork mounts the work disk on /root under systemd
// (banger-work.service) the way PID 1 mode does: by the device node
// devtmpfs makes, never through a udev device unit, so an image without
// udev does not wait for one.
func mountWork(ctx context.Context) error {
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return fmt.Errorf("read kernel command line: %w", err)
	}
	return guestinit.New(guestinit.SysHost{}, slog.Default()).MountWork(ctx, string(cmdline))
}
