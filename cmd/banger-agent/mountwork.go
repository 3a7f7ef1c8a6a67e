package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"banger/internal/guestinit"
	"banger/internal/poll"
)

// workDeviceWait bounds how long mount-work waits for the work disk's node.
const workDeviceWait = 5 * time.Second

// mountWork mounts the work disk on /root under systemd
// (banger-work.service), the way PID 1 mode does: by the device node
// devtmpfs makes, never through a udev device unit, so an image without
// udev does not wait for one. An existing mount on /root is left alone.
func mountWork(ctx context.Context) error {
	host := guestinit.SysHost{}
	if host.MountPoints()[guestinit.WorkMountPoint] {
		return nil
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return fmt.Errorf("read kernel command line: %w", err)
	}
	dev := guestinit.WorkDevice(string(cmdline))
	if dev == guestinit.NoWorkDevice {
		return nil // a template: each clone mounts its own after restore
	}
	wctx, cancel := context.WithTimeout(ctx, workDeviceWait)
	defer cancel()
	if err := poll.Until(wctx, 20*time.Millisecond, nil, func(context.Context) (bool, error) {
		return host.Exists(dev), nil
	}); err != nil {
		return fmt.Errorf("work disk %s: no device node after %s: %w", dev, workDeviceWait, err)
	}
	m := guestinit.Mount{Source: dev, Target: guestinit.WorkMountPoint, FSType: "ext4"}
	if err := host.Mount(m); err != nil {
		return fmt.Errorf("mount %s on %s: %w", dev, m.Target, err)
	}
	return nil
}
