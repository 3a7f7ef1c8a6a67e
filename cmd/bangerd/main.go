// Command bangerd is the banger daemon: it owns all state (the SQLite store,
// VMs, network, disks, images and kernels) and serves the HTTP/JSON API on a
// unix socket.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"banger/internal/buildinfo"
	"banger/internal/config"
	"banger/internal/crashpoint"
	"banger/internal/daemon"
	"banger/internal/vmm/builtin"
)

func main() {
	configPath := flag.String("config", "", "config file (default $BANGER_CONFIG, /etc/banger/config.toml as root)")
	agent := flag.String("agent", "", "static banger-agent binary to install in built images (default: beside bangerd)")
	version := flag.Bool("version", false, "print the version")
	flag.Parse()
	if *version {
		fmt.Println(buildinfo.Version)
		return
	}
	backends := builtin.Registry()
	cfg, _, err := config.Load(*configPath, os.Getenv, backends)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bangerd:", err)
		os.Exit(1)
	}
	if *agent == "" {
		if self, err := os.Executable(); err == nil {
			*agent = filepath.Join(filepath.Dir(self), "banger-agent")
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// The first signal drains the operations in flight (see daemon.Run);
	// a second one ends the daemon at once.
	go func() { <-ctx.Done(); stop() }()
	signal.Ignore(syscall.SIGHUP)
	if err := daemon.Run(ctx, cfg, daemon.Options{AgentBinary: *agent, Backends: backends, CrashAt: os.Getenv(crashpoint.Env)}); err != nil {
		fmt.Fprintln(os.Stderr, "bangerd:", err)
		os.Exit(1)
	}
}
