// Command banger-agent runs inside every banger guest. It configures the
// guest's network from the kernel command line (net-setup) and answers the
// daemon over the agent channel (serve).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"banger/internal/agent"
)

var version = "dev"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: banger-agent net-setup|serve|version")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "net-setup":
		err = netSetup()
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

func serve(ctx context.Context) error {
	path := "/dev/virtio-ports/" + agent.PortName
	srv := &agent.Server{Version: version}
	for ctx.Err() == nil {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			// The port appears once udev has run; keep trying.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
				continue
			}
		}
		err = srv.Serve(ctx, f)
		f.Close()
		if err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "banger-agent:", err)
			time.Sleep(time.Second)
		}
	}
	return nil
}
