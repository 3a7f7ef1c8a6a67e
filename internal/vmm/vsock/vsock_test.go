package vsock

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fakeVsock(t *testing.T, answer func(port string) string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "v.sock")
	l, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				line, _ := r.ReadString('\n')
				port, ok := strings.CutPrefix(strings.TrimSpace(line), "CONNECT ")
				if !ok {
					return
				}
				a := answer(port)
				if a == "" {
					return // refuse: close without answering
				}
				c.Write([]byte(a))
				b, _ := r.ReadString('\n')
				c.Write([]byte("echo " + b))
			}()
		}
	}()
	return p
}

func TestDial(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The guest's first bytes arrive right behind OK and must not be lost.
	sock := fakeVsock(t, func(port string) string { return "OK 1073741824\n" })
	c, err := Dial(ctx, sock, 1024)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "hello\n")
	got, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if got != "echo hello\n" {
		t.Fatalf("after the handshake read %q", got)
	}

	sawPort := make(chan string, 1)
	refused := fakeVsock(t, func(port string) string { sawPort <- port; return "" })
	if _, err := Dial(ctx, refused, 52); err == nil || !strings.Contains(err.Error(), "read answer") {
		t.Fatalf("refused connection: err = %v", err)
	}
	if p := <-sawPort; p != "52" {
		t.Fatalf("server saw CONNECT %q, want 52", p)
	}
	bad := fakeVsock(t, func(string) string { return "NOPE\n" })
	if _, err := Dial(ctx, bad, 52); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("bad answer: err = %v", err)
	}
	if _, err := Dial(ctx, filepath.Join(t.TempDir(), "missing"), 52); err == nil {
		t.Fatal("dialing a missing socket succeeded")
	}
}
