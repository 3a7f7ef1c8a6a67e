// Command banger-node is banger's node agent on a Kubernetes cluster: it
// advertises the banger.dev/vm capacity of its node and runs, through the
// node's bangerd, the Sandboxes whose launcher Pods are bound to it (see
// docs/kubernetes.md).
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	"banger/internal/kube/manager"
	"banger/internal/kube/node"
)

func main() {
	var o node.Options
	os.Exit(manager.Main(context.Background(), "banger-node", os.Args[1:], os.Stdout, os.Stderr, func(fs *flag.FlagSet) {
		o.AddFlags(fs, ":8082")
		fs.StringVar(&o.NodeName, "node-name", os.Getenv("NODE_NAME"), "this node's name (default $NODE_NAME)")
		fs.StringVar(&o.Socket, "socket", "/run/banger/bangerd.sock", "the node's bangerd socket")
		fs.Int64Var(&o.Capacity, "capacity", 16, "how many sandboxes this node runs at once (its banger.dev/vm)")
		fs.IntVar(&o.Workers, "workers", 4, "how many sandboxes are set up at once")
	}, func(ctx context.Context, log *slog.Logger) error {
		o.Log = log
		return node.Run(ctx, o)
	}))
}
