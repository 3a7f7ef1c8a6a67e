package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/initramfs"
)

// runStage1 is /init of banger's initramfs: it readies the root disk and
// executes the real init in it. On failure it powers the machine off, so
// the host sees the VM exit and shows the console, instead of a kernel
// panic loop.
func runStage1() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("agent", "initramfs")
	err := initramfs.Stage1(context.Background(), log, 10*time.Second)
	log.Error("boot failed", "err", err)
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}
