// Command banger-controller runs banger's Sandbox controller on a
// Kubernetes cluster: it gives every Sandbox a launcher Pod for
// kube-scheduler to place (see docs/kubernetes.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"banger/internal/buildinfo"
	"banger/internal/kube/controller"
)

func main() {
	var o controller.Options
	fs := flag.NewFlagSet("banger-controller", flag.ExitOnError)
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.StringVar(&o.LauncherImage, "launcher-image", controller.DefaultLauncherImage, "the launcher Pods' container image (it only holds the place)")
	fs.BoolVar(&o.LeaderElect, "leader-elect", true, "run one active controller among replicas (a Lease in the kubeconfig's namespace)")
	fs.StringVar(&o.MetricsAddr, "metrics-addr", "0", "address of the Prometheus metrics endpoint (0: off)")
	fs.StringVar(&o.HealthAddr, "health-addr", ":8081", "address of /healthz and /readyz (0: off)")
	version := fs.Bool("version", false, "print the version")
	_ = fs.Parse(os.Args[1:])
	if *version {
		fmt.Println(buildinfo.Version)
		return
	}
	o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := controller.Run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "banger-controller:", err)
		os.Exit(1)
	}
}
