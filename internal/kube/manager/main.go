package manager

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"syscall"

	"banger/internal/buildinfo"
)

// Main is the body of banger-controller's and banger-node's main: it
// parses args into the flags flags declared (plus -version), and runs run
// with a text logger on stderr until SIGINT or SIGTERM. It returns the
// exit code.
func Main(ctx context.Context, name string, args []string, stdout, stderr io.Writer, flags func(*flag.FlagSet), run func(context.Context, *slog.Logger) error) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	flags(fs)
	version := fs.Bool("version", false, "print the version")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return 0
	} else if err != nil {
		return 2
	}
	if *version {
		fmt.Fprintln(stdout, buildinfo.Version)
		return 0
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, slog.New(slog.NewTextHandler(stderr, nil))); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// AddFlags declares the flags both components share; health is the
// default address of their probes.
func (o *Options) AddFlags(fs *flag.FlagSet, health string) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.StringVar(&o.MetricsAddr, "metrics-addr", "0", "address of the Prometheus metrics endpoint (0: off)")
	fs.StringVar(&o.HealthAddr, "health-addr", health, "address of /healthz and /readyz (0: off)")
}
