package node

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"banger/internal/api"
	"banger/internal/kube/manager"
)

// Options are banger-node's flags.
type Options struct {
	manager.Options
	// Socket is the node's bangerd socket.
	Socket   string
	Capacity int64
	Workers  int
}

// Run runs the node agent until ctx ends.
func Run(ctx context.Context, o Options) error {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.NodeName == "" {
		return fmt.Errorf("the node's name is missing: give --node-name or set NODE_NAME (the DaemonSet sets it from spec.nodeName)")
	}
	if o.Capacity < 1 {
		return fmt.Errorf("--capacity %d: a node runs at least one sandbox", o.Capacity)
	}
	d := api.NewClient(o.Socket)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err := d.Ping(pctx)
	cancel()
	if err != nil {
		return fmt.Errorf("reach bangerd at %s (is it running on this node?): %w", o.Socket, err)
	}
	mgr, err := manager.New(o.Options)
	if err != nil {
		return err
	}
	a := &Agent{Client: mgr.GetClient(), Daemon: d, NodeName: o.NodeName, Capacity: o.Capacity, Workers: o.Workers, Log: o.Log,
		Events: mgr.GetEventRecorderFor("banger-node/" + o.NodeName)}
	if err := a.SetupWithManager(mgr); err != nil {
		return err
	}
	o.Log.Info("banger-node starting", "node", o.NodeName, "capacity", o.Capacity, "socket", o.Socket)
	return mgr.Start(ctx)
}
