// Command banger-agent runs inside every banger guest. As PID 1 (images
// without systemd) it is the guest's init; under systemd it configures the
// network (net-setup) and answers the daemon (serve). Either way it
// answers the JSON agent protocol and serves SSH on host-only channels.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"banger/internal/agent"
	"banger/internal/guestnet"
	"banger/internal/initramfs"
)

var version = "dev"

func main() {
	if os.Getpid() == 1 {
		if initramfs.InInitramfs() {
			runStage1() // never returns
		}
		runInit() // never returns
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: banger-agent init|mount-work|net-setup|put|serve|version")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "init":
		err = fmt.Errorf("init must run as PID 1 (this is PID %d)", os.Getpid())
	case "mount-work":
		err = mountWork(ctx)
	case "net-setup":
		err = netSetup(ctx)
	case "put":
		err = put(os.Args[2:])
	case "serve":
		err = serve(ctx)
	case "version":
		fmt.Println(version)
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "banger-agent:", err)
		os.Exit(1)
	}
}

// netSetup configures lo and eth0 from banger.* kernel parameters.
func netSetup(ctx context.Context) error {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return fmt.Errorf("read kernel command line: %w", err)
	}
	cfg, err := agent.ParseCmdline(string(b))
	if err != nil {
		return err
	}
	return guestnet.Configure(ctx, cfg)
}

// serve answers on the agent and SSH channels until ctx ends (under
// systemd, which reaps and powers off).
func serve(ctx context.Context) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	growRoot(log)
	ch, err := newChannels(log, nil, nil)
	if err != nil {
		return err
	}
	ch.run(ctx)
	return nil
}
