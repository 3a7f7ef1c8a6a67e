package vm

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"banger/internal/limit"
	"banger/internal/sshkey"
)

// hostileGuest is an SSH server whose exec requests are answered by
// serve, which plays a guest command: it may write without end, never
// exit, or take what it is sent.
func hostileGuest(t *testing.T, serve func(ch ssh.Channel)) *ssh.Client {
	t.Helper()
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "ssh.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		guest, err := ln.Accept()
		if err != nil {
			return
		}
		_, chans, reqs, err := ssh.NewServerConn(guest, cfg)
		if err != nil {
			return
		}
		go ssh.DiscardRequests(reqs)
		for nch := range chans {
			ch, chReqs, err := nch.Accept()
			if err != nil {
				continue
			}
			go func() {
				for req := range chReqs {
					req.Reply(req.Type == "exec", nil)
					if req.Type == "exec" {
						go serve(ch)
					}
				}
			}()
		}
	}()
	host, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, chans, reqs, err := ssh.NewClientConn(host, "guest", &ssh.ClientConfig{User: "root", HostKeyCallback: ssh.InsecureIgnoreHostKey()})
	if err != nil {
		t.Fatal(err)
	}
	c := ssh.NewClient(sc, chans, reqs)
	t.Cleanup(func() { c.Close() })
	return c
}

// within fails the test if fn has not returned after a minute: without
// the bounds under test, these calls never return.
func within(t *testing.T, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatal("still waiting after a minute")
		return nil
	}
}

// TestRunStopsEndlessOutput: a guest command that writes without end
// fails once maxOutput is collected, and the session ends.
func TestRunStopsEndlessOutput(t *testing.T) {
	var wrote atomic.Int64
	c := hostileGuest(t, func(ch ssh.Channel) {
		chunk := bytes.Repeat([]byte("y\n"), 16<<10)
		for {
			n, err := ch.Write(chunk)
			wrote.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	err := within(t, func() error { return run(context.Background(), c, nil, "yes") })
	if !errors.Is(err, limit.ErrExceeded) || !strings.Contains(err.Error(), "output of yes") {
		t.Fatalf("run = %v, want the output limit", err)
	}
	t.Logf("run = %v; the guest wrote %d bytes", err, wrote.Load())
}

// TestRunEndsWithCtx: a guest command that never exits (and never reads
// its input) is abandoned when ctx ends.
func TestRunEndsWithCtx(t *testing.T) {
	c := hostileGuest(t, func(ssh.Channel) {}) // holds the session open
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := within(t, func() error { return run(ctx, c, strings.NewReader("data"), "sleep", "inf") })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run = %v, want the deadline", err)
	}
}

// TestSyncFilesStopsAtTheLimit: an entry larger than SyncLimit fails,
// and the guest receives no more than the limit.
func TestSyncFilesStopsAtTheLimit(t *testing.T) {
	var got atomic.Int64
	c := hostileGuest(t, func(ch ssh.Channel) {
		n, _ := io.Copy(io.Discard, ch)
		got.Store(n)
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{0}))
		ch.Close()
	})
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("z"), 3<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	g := &Guest{SyncLimit: 1 << 20, FileSync: []FileSync{{Host: big, Guest: "/root/big"}}}
	err := within(t, func() error { return g.syncFiles(context.Background(), c, nil) })
	if !errors.Is(err, limit.ErrExceeded) || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("syncFiles = %v, want the limit", err)
	}
	if got.Load() > 1<<20 {
		t.Errorf("the guest received %d bytes, more than the limit", got.Load())
	}
	t.Logf("syncFiles = %v; the guest received %d bytes", err, got.Load())
	g.FileSync = []FileSync{{Host: dir, Guest: "/root/dir"}}
	if err := g.syncFiles(context.Background(), c, nil); !errors.Is(err, limit.ErrExceeded) {
		t.Fatalf("syncFiles of a directory = %v, want the limit", err)
	}
}

// TestWaitSSHSilentPeer: a guest whose sshd accepts connections and never
// sends a banner fails the wait when the boot timeout passes.
func TestWaitSSHSilentPeer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent
		}
	}()
	dir := t.TempDir()
	g := &Guest{
		KeyPath:     filepath.Join(dir, "id_ed25519"),
		KnownHosts:  &sshkey.KnownHosts{Path: filepath.Join(dir, "known_hosts")},
		BootTimeout: 2 * time.Second,
		sshPort:     uint16(ln.Addr().(*net.TCPAddr).Port),
	}
	err = within(t, func() error {
		return g.waitSSH(context.Background(), guestVM{ID: "silent", Name: "silent", IP: "127.0.0.1"}, nil, nil, GitIdentity{})
	})
	if err == nil || !strings.Contains(err.Error(), "did not answer within 2s") {
		t.Fatalf("waitSSH = %v, want the boot timeout", err)
	}
	t.Logf("waitSSH = %v", err)
}
