// Command banger-controller runs banger's Sandbox controller on a
// Kubernetes cluster: it gives every Sandbox a launcher Pod for
// kube-scheduler to place (see docs/kubernetes.md).
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"banger/internal/kube/controller"
	"banger/internal/kube/manager"
)

func main() {
	var o controller.Options
	os.Exit(manager.Main(context.Background(), "banger-controller", os.Args[1:], os.Stdout, os.Stderr, func(fs *flag.FlagSet) {
		o.AddFlags(fs, ":8081")
		fs.StringVar(&o.LauncherImage, "launcher-image", controller.DefaultLauncherImage, "the launcher Pods' container image (it only holds the place)")
		fs.BoolVar(&o.LeaderElect, "leader-elect", true, "run one active controller among replicas (a Lease in the kubeconfig's namespace)")
	}, func(ctx context.Context, log *slog.Logger) error {
		o.Log = log
		return controller.Run(ctx, o)
	}))
}
