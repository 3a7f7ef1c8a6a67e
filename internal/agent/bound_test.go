package agent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/limit"
)

// TestClientStopsAnEndlessLine plays an agent that answers a call with one
// line that never ends, over a unix socket as the daemon sees a real one.
// The host reads at most MaxLine (plus its read buffer) of it, fails the
// call with a limit error, and hangs up, which ends the agent's writes.
func TestClientStopsAnEndlessLine(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	wrote := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			wrote <- -1
			return
		}
		defer c.Close()
		_, _ = bufio.NewReader(c).ReadBytes('\n')
		chunk := bytes.Repeat([]byte("A"), 64<<10)
		var n int64
		for {
			k, err := c.Write(chunk)
			n += int64(k)
			if err != nil {
				wrote <- n
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Dial(ctx, sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Hello(ctx)
	if !errors.Is(err, limit.ErrExceeded) || !strings.Contains(err.Error(), "exceeds the limit of 1 MiB") {
		t.Fatalf("Hello = %v, want the line limit error", err)
	}
	n := <-wrote
	t.Logf("the agent wrote %d bytes before the host hung up (limit %d)", n, MaxLine)
	// What the agent managed to write is what the host read plus what the
	// socket buffers held; the host's memory holds at most MaxLine of it.
	if n < MaxLine || n > 4*MaxLine {
		t.Errorf("the agent wrote %d bytes; want the host to read about MaxLine (%d) and hang up", n, MaxLine)
	}
	if _, err := c.Hello(ctx); !errors.Is(err, limit.ErrExceeded) {
		t.Errorf("a call after the overlong line = %v, want the same error", err)
	}
}
