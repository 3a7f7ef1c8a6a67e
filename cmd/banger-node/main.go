// Command banger-node is banger's node agent on a Kubernetes cluster: it
// advertises the banger.dev/vm capacity of its node and runs, through the
// node's bangerd, the Sandboxes whose launcher Pods are bound to it (see
// docs/kubernetes.md).
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
	"banger/internal/kube/node"
)

func main() {
	var o node.Options
	fs := flag.NewFlagSet("banger-node", flag.ExitOnError)
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.StringVar(&o.NodeName, "node-name", os.Getenv("NODE_NAME"), "this node's name (default $NODE_NAME)")
	fs.StringVar(&o.Socket, "socket", "/run/banger/bangerd.sock", "the node's bangerd socket")
	fs.Int64Var(&o.Capacity, "capacity", 16, "how many sandboxes this node runs at once (its banger.dev/vm)")
	fs.IntVar(&o.Workers, "workers", 4, "how many sandboxes are set up at once")
	fs.StringVar(&o.MetricsAddr, "metrics-addr", "0", "address of the Prometheus metrics endpoint (0: off)")
	fs.StringVar(&o.HealthAddr, "health-addr", ":8082", "address of /healthz and /readyz (0: off)")
	version := fs.Bool("version", false, "print the version")
	_ = fs.Parse(os.Args[1:])
	if *version {
		fmt.Println(buildinfo.Version)
		return
	}
	o.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := node.Run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "banger-node:", err)
		os.Exit(1)
	}
}
