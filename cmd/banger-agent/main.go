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

	"github.com/mdlayher/vsock"

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
	go serveVsock(ctx, srv)
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

// serveVsock answers on vsock where the VMM offers it (Firecracker); the
// same protocol as on the serial port, one connection at a time each.
func serveVsock(ctx context.Context, srv *agent.Server) {
	ln, err := vsock.Listen(agent.VsockPort, nil)
	if err != nil {
		return // no vsock in this VM: the serial port serves
	}
	context.AfterFunc(ctx, func() { ln.Close() })
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = srv.ServeConn(ctx, c)
		}()
	}
}
