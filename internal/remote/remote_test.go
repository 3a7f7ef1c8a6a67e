package remote

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	good := map[string]Host{
		"ssh://root@10.0.0.2:2222": {User: "root", Addr: "10.0.0.2", Port: 2222},
		"ssh://build-box":          {Addr: "build-box"},
		"ssh://me@example.org":     {User: "me", Addr: "example.org"},
	}
	for s, want := range good {
		h, err := Parse(s)
		if err != nil || h != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", s, h, err, want)
		}
		if h.String() != s {
			t.Errorf("String of %q = %q", s, h.String())
		}
	}
	for _, s := range []string{"", "tcp://h:1", "ssh://-oProxyCommand=x", "ssh://u:pw@h", "ssh://h:0", "ssh://h:99999",
		"ssh://h/path", "ssh://-u@h", "ssh://u$(id)@h", "h"} {
		if h, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", s, h)
		}
	}
}

func TestSSHArgs(t *testing.T) {
	h := Host{User: "root", Addr: "h", Port: 2222}
	got := h.SSHArgs([]string{"-T"}, DialCommand)
	want := []string{"-o", "ConnectTimeout=15", "-o", "ServerAliveInterval=15", "-p", "2222", "-T", "--", "root@h", "banger system dial-stdio"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("SSHArgs = %q, want %q", got, want)
	}
}

// echoDaemon answers on a unix socket with what it read, once its client
// half-closes.
func echoDaemon(t *testing.T) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(io.LimitReader(c, 1<<20))
		_, _ = c.Write(append([]byte("got:"), b...))
	}()
	return sock
}

// TestDialStdioHalfClose: the end of stdin reaches the daemon as EOF, and
// its answer after that still reaches stdout before DialStdio returns.
func TestDialStdioHalfClose(t *testing.T) {
	sock := echoDaemon(t)
	var out bytes.Buffer
	if err := DialStdio(context.Background(), sock, strings.NewReader("ping"), &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "got:ping" {
		t.Fatalf("stdout = %q, want %q", out.String(), "got:ping")
	}
}

// TestDialStdioDaemonCloses: DialStdio returns when the daemon closes,
// even though stdin never ends.
func TestDialStdioDaemonCloses(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			_, _ = c.Write([]byte("bye"))
			c.Close()
		}
	}()
	pr, pw := io.Pipe() // never written, never closed before the return
	defer pw.Close()
	var out bytes.Buffer
	if err := DialStdio(context.Background(), sock, pr, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "bye" {
		t.Fatalf("stdout = %q", out.String())
	}
}

func TestDialStdioNoDaemon(t *testing.T) {
	err := DialStdio(context.Background(), filepath.Join(t.TempDir(), "none.sock"), strings.NewReader(""), io.Discard)
	if err == nil {
		t.Fatal("DialStdio with no daemon succeeded")
	}
}

// TestDial runs a fake ssh (first on PATH) that records its argv and
// echoes stdin: the conn carries bytes both ways, and the argv is ssh's
// with the dial command as one argument after the destination.
func TestDial(t *testing.T) {
	dir := t.TempDir()
	argvFile := filepath.Join(dir, "argv")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + argvFile + "\nexec cat\n"
	if err := os.WriteFile(filepath.Join(dir, "ssh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	c, err := Dial(context.Background(), Host{User: "u", Addr: "h"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := c.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "hello" {
		t.Fatalf("read %q, %v; want hello", b, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	argv, _ := os.ReadFile(argvFile)
	if !strings.HasSuffix(string(argv), "-T\n-o\nBatchMode=yes\n--\nu@h\nbanger system dial-stdio\n") {
		t.Fatalf("ssh argv:\n%s", argv)
	}
}

// TestDialRemoteWithoutBanger: when the remote command fails (banger not
// installed there: the shell's exit 127), a read says so, not a bare EOF.
func TestDialRemoteWithoutBanger(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\necho 'sh: 1: banger: not found' >&2\nexit 127\n"
	if err := os.WriteFile(filepath.Join(dir, "ssh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	c, err := Dial(context.Background(), Host{User: "u", Addr: "h"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Read(make([]byte, 16))
	if err == nil || !strings.Contains(err.Error(), "exit status 127") || !strings.Contains(err.Error(), "is banger installed") {
		t.Fatalf("read = %v, want the exit status and the hint", err)
	}
}
