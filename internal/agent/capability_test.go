package agent

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"
)

func TestHelloAdvertisesSSHAndShutdown(t *testing.T) {
	host, guest := net.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	asked := make(chan struct{}, 1)
	srv := &Server{Version: "t", ProcRoot: t.TempDir(), SSHHostKey: "ssh-ed25519 AAAA",
		Shutdown: func() { asked <- struct{}{} }}
	go func() { _ = srv.ServeConn(ctx, guest) }()
	c := NewClient(host)
	defer c.Close()
	h, err := c.Hello(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Supports(CapabilitySSH) || !h.Supports("shutdown") || h.SSHHostKey != "ssh-ed25519 AAAA" {
		t.Fatalf("hello %+v lacks ssh or shutdown", h)
	}
	if !slices.IsSorted(h.Capabilities) {
		t.Errorf("capabilities not sorted: %v", h.Capabilities)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-asked:
	case <-ctx.Done():
		t.Fatal("shutdown did not reach the server's Shutdown")
	}
}

func TestHelloWithoutSSH(t *testing.T) {
	srv := &Server{Version: "t", ProcRoot: t.TempDir()}
	caps := srv.capabilities()
	if slices.Contains(caps, CapabilitySSH) || slices.Contains(caps, "shutdown") {
		t.Errorf("capabilities %v offer ssh or shutdown the agent does not have", caps)
	}
}
