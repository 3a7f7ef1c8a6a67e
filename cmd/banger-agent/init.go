package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"banger/internal/guestinit"
)

// runInit is PID 1: boot, serve, and power off on request. PID 1 must
// never exit (the kernel panics), so it ends in reboot(2) or blocks.
func runInit() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("agent", "init")
	// Handle every signal: unhandled ones would make the Go runtime exit,
	// and handled ones are reset to their default in children (ignored
	// ones would be inherited).
	signal.Notify(make(chan os.Signal, 1))
	power := make(chan os.Signal, 1)
	signal.Notify(power, syscall.SIGTERM, syscall.SIGINT, syscall.SIGPWR)
	os.Setenv("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	ctx := context.Background()

	start := time.Now()
	in := guestinit.New(guestinit.SysHost{}, log)
	if err := in.Boot(ctx); err != nil {
		log.Error("boot", "err", err)
	}
	growRoot(log)
	guestinit.WatchPowerButton(ctx, in.PowerOff)
	reaper := guestinit.NewReaper()
	go reaper.Run(ctx)
	sctx, stopServing := context.WithCancel(ctx)
	if ch, err := newChannels(log, reaper, in.PowerOff); err != nil {
		log.Error("agent channels", "err", err)
	} else {
		go ch.run(sctx)
	}
	log.Info("booted", "took", time.Since(start).Round(time.Millisecond))

	in.Wait(ctx, power)
	stopServing()
	err := in.Shutdown(ctx)
	log.Error("power off failed; halting here", "err", err)
	select {}
}
