package sshdial_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"banger/internal/limit"
	"banger/internal/sshdial"
)

func config() *ssh.ClientConfig {
	return &ssh.ClientConfig{User: "root", HostKeyCallback: ssh.InsecureIgnoreHostKey()}
}

// within fails the test if fn has not returned after a minute: without
// a deadline, the calls under test hang for good.
func within(t *testing.T, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatal("still waiting after a minute: the handshake has no deadline")
		return nil
	}
}

// TestDialSilentPeer: a peer that accepts the connection and never sends
// its banner fails the dial when the caller's deadline passes.
func TestDialSilentPeer(t *testing.T) {
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
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err = within(t, func() error {
		c, err := sshdial.Dial(ctx, ln.Addr().String(), config(), time.Hour)
		if c != nil {
			c.Close()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "ssh handshake with") {
		t.Fatalf("Dial = %v, want a handshake error at the deadline", err)
	}
	t.Logf("Dial = %v", err)

	// Without a deadline on ctx, the attempt's own bound applies.
	err = within(t, func() error {
		_, err := sshdial.Dial(context.Background(), ln.Addr().String(), config(), time.Second)
		return err
	})
	if err == nil {
		t.Fatal("Dial without a ctx deadline succeeded")
	}
}

// ignorePacket is an unencrypted SSH_MSG_IGNORE packet carrying n bytes,
// what a peer may send before key exchange as often as it likes.
func ignorePacket(n int) []byte {
	payload := make([]byte, 5+n)
	payload[0] = 2 // SSH_MSG_IGNORE
	binary.BigEndian.PutUint32(payload[1:], uint32(n))
	pad := 8 - (5+len(payload))%8
	if pad < 4 {
		pad += 8
	}
	p := make([]byte, 4+1+len(payload)+pad)
	binary.BigEndian.PutUint32(p, uint32(1+len(payload)+pad))
	p[4] = byte(pad)
	copy(p[5:], payload)
	return p
}

// TestClientEndlessHandshake: a peer sends a banner, then ignore messages
// without end. The client reads MaxHandshake bytes and fails.
func TestClientEndlessHandshake(t *testing.T) {
	for _, tc := range []struct {
		name  string
		first string
	}{
		{"ignore messages after the banner", "SSH-2.0-fake\r\n"},
		{"lines before the banner", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host, guest := net.Pipe()
			defer guest.Close()
			go func() { _, _ = io.Copy(io.Discard, guest) }()
			wrote := make(chan int64, 1)
			go func() {
				n, _ := guest.Write([]byte(tc.first))
				total := int64(n)
				chunk := ignorePacket(32 << 10)
				if tc.first == "" {
					chunk = []byte(strings.Repeat("x", 200) + "\r\n")
				}
				for {
					n, err := guest.Write(chunk)
					total += int64(n)
					if err != nil {
						wrote <- total
						return
					}
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := within(t, func() error {
				_, err := sshdial.Client(ctx, host, "guest", config())
				return err
			})
			total := <-wrote
			t.Logf("Client = %v; the peer wrote %d bytes", err, total)
			if tc.first == "" {
				// x/crypto/ssh gives up on the banner itself after 1024 lines.
				if err == nil || total > sshdial.MaxHandshake {
					t.Fatalf("Client = %v after %d bytes", err, total)
				}
				return
			}
			if !errors.Is(err, limit.ErrExceeded) || !strings.Contains(err.Error(), "exceeds the limit of 1 MiB") {
				t.Fatalf("Client = %v, want the handshake limit", err)
			}
			if total > sshdial.MaxHandshake+int64(len(ignorePacket(32<<10))) {
				t.Errorf("the peer wrote %d bytes, more than the limit and one packet", total)
			}
		})
	}
}
