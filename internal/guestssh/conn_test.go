package guestssh

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestServeConnEndsWithConnection checks that ServeConn returns when the
// host goes away even while a forward waits on a guest socket that never
// speaks: over virtio-serial the next connection needs the port back.
func TestServeConnEndsWithConnection(t *testing.T) {
	quiet, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer quiet.Close()
	held := make(chan net.Conn, 1)
	go func() {
		c, err := quiet.Accept()
		if err == nil {
			held <- c // keep it open, say nothing
		}
	}()
	key, host := newSigner(t), newSigner(t)
	srv := &Server{HostKey: host, Home: t.TempDir(),
		AuthorizedKeys: func() ([]ssh.PublicKey, error) { return []ssh.PublicKey{key.PublicKey()}, nil }}
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	served := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			served <- err
			return
		}
		served <- srv.ServeConn(context.Background(), c)
	}()
	cl, err := dial(sock, host.PublicKey(), key)
	if err != nil {
		t.Fatal(err)
	}
	fwd, err := cl.Dial("tcp", quiet.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	select {
	case c := <-held:
		defer c.Close()
	case <-time.After(waitLimit):
		t.Fatal("the forward never reached the guest socket")
	}
	cl.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("ServeConn = %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("ServeConn still runs after the host disconnected")
	}
}
