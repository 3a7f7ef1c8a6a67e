package guestssh

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"banger/internal/poll"
)

const waitLimit = 10 * time.Second

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	s, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// listen serves srv on a fresh unix socket for the test's life.
func listen(t *testing.T, srv *Server) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "ssh.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() { _ = srv.Serve(ctx, ln) }()
	return sock
}

// serve starts a Server on a unix socket that accepts only key and returns
// the socket and the host key.
func serve(t *testing.T, key ssh.PublicKey) (string, ssh.PublicKey) {
	t.Helper()
	host := newSigner(t)
	srv := &Server{
		HostKey:        host,
		AuthorizedKeys: func() ([]ssh.PublicKey, error) { return []ssh.PublicKey{key}, nil },
		Shell:          "/bin/sh",
		Home:           t.TempDir(),
	}
	return listen(t, srv), host.PublicKey()
}

func dial(sock string, hostKey ssh.PublicKey, key ssh.Signer) (*ssh.Client, error) {
	return ssh.Dial("unix", sock, &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(hostKey),
		Timeout:         waitLimit,
	})
}

// client returns a connected client of a fresh server.
func client(t *testing.T) *ssh.Client {
	t.Helper()
	key := newSigner(t)
	sock, hostKey := serve(t, key.PublicKey())
	c, err := dial(sock, hostKey, key)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func openSession(t *testing.T, c *ssh.Client) *ssh.Session {
	t.Helper()
	s, err := c.NewSession()
	if err != nil {
		t.Fatalf("new session: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// within runs fn and fails the test if it takes longer than waitLimit.
func within(t *testing.T, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(waitLimit):
		t.Fatalf("%s: no answer within %s", what, waitLimit)
		return nil
	}
}

// waitFor reads r until a line equal to want, within waitLimit.
func waitFor(t *testing.T, r io.Reader, want string) {
	t.Helper()
	err := within(t, "wait for "+want, func() error {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if strings.TrimRight(sc.Text(), "\r") == want {
				return nil
			}
		}
		return errors.New("output ended before " + want)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestExitCode(t *testing.T) {
	s := openSession(t, client(t))
	err := within(t, "exit 7", func() error { return s.Run("exit 7") })
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 7 {
		t.Fatalf("Run(exit 7) = %v, want exit status 7", err)
	}
}

func TestStdoutAndStderrApart(t *testing.T) {
	s := openSession(t, client(t))
	var out, errOut bytes.Buffer
	s.Stdout, s.Stderr = &out, &errOut
	if err := within(t, "run", func() error { return s.Run("echo out; echo err >&2; echo out2") }); err != nil {
		t.Fatal(err)
	}
	if out.String() != "out\nout2\n" || errOut.String() != "err\n" {
		t.Errorf("stdout %q stderr %q, want %q and %q", out.String(), errOut.String(), "out\nout2\n", "err\n")
	}
}

func TestStdinEOF(t *testing.T) {
	s := openSession(t, client(t))
	s.Stdin = strings.NewReader("line one\nline two\n")
	out, err := within2(t, func() ([]byte, error) { return s.Output("cat; echo END") })
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "line one\nline two\nEND\n" {
		t.Errorf("output %q", out)
	}
}

func within2(t *testing.T, fn func() ([]byte, error)) ([]byte, error) {
	t.Helper()
	var out []byte
	err := within(t, "output", func() (err error) {
		out, err = fn()
		return err
	})
	return out, err
}

func TestPTYSession(t *testing.T) {
	s := openSession(t, client(t))
	if err := s.RequestPty("xterm-test", 40, 100, ssh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	out, err := within2(t, func() ([]byte, error) { return s.Output("tty; stty size; echo TERM=$TERM") })
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for _, want := range []string{"/dev/pts/", "40 100\r\n", "TERM=xterm-test"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output %q lacks %q", out, want)
		}
	}
}

func TestWindowChange(t *testing.T) {
	s := openSession(t, client(t))
	if err := s.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	stdout, err := s.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The command watches its terminal until the new size shows.
	script := `echo ready; while [ "$(stty size)" != "50 120" ]; do sleep 0.05; done; echo resized`
	if err := s.Start(script); err != nil {
		t.Fatal(err)
	}
	waitFor(t, stdout, "ready")
	if err := s.WindowChange(50, 120); err != nil {
		t.Fatal(err)
	}
	waitFor(t, stdout, "resized")
	if err := within(t, "wait", s.Wait); err != nil {
		t.Fatal(err)
	}
}

func TestCtrlCInterruptsPTYCommand(t *testing.T) {
	s := openSession(t, client(t))
	if err := s.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	stdin, _ := s.StdinPipe()
	stdout, _ := s.StdoutPipe()
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	// A shell that is still starting its command may swallow a SIGINT
	// (dash does), as it would on any terminal: send Ctrl-C once sleep runs.
	arg := fmt.Sprintf("100.%d", time.Now().UnixNano()%1000000)
	if err := s.Start("exec sleep " + arg); err != nil {
		t.Fatal(err)
	}
	waitProcess(t, "sleep\x00"+arg+"\x00")
	if _, err := stdin.Write([]byte{0x03}); err != nil {
		t.Fatal(err)
	}
	err := within(t, "wait after Ctrl-C", s.Wait)
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.Signal() != "INT" {
		t.Fatalf("Wait = %v, want an end by SIGINT", err)
	}
}

// waitProcess waits until a process with this exact /proc/PID/cmdline
// runs.
func waitProcess(t *testing.T, cmdline string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	err := poll.Until(ctx, 10*time.Millisecond, nil, func(context.Context) (bool, error) {
		files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && string(b) == cmdline {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("no process %q: %v", cmdline, err)
	}
}

func TestSignalRequest(t *testing.T) {
	s := openSession(t, client(t))
	stdout, _ := s.StdoutPipe()
	if err := s.Start("echo ready; sleep 100"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, stdout, "ready")
	if err := s.Signal(ssh.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := within(t, "wait after TERM", s.Wait)
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.Signal() != "TERM" {
		t.Fatalf("Wait = %v, want exit-signal TERM", err)
	}
}

func TestWrongKeyRefused(t *testing.T) {
	sock, hostKey := serve(t, newSigner(t).PublicKey())
	c, err := dial(sock, hostKey, newSigner(t))
	if err == nil {
		c.Close()
		t.Fatal("a key that is not authorized logged in")
	}
	if !strings.Contains(err.Error(), "unable to authenticate") {
		t.Errorf("err = %v, want an authentication failure", err)
	}
}

func TestDirectTCPIP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		_, _ = c.Write([]byte("pong " + line))
	}()
	cl := client(t)
	c, err := cl.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial guest loopback: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitLimit))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "pong ping\n" {
		t.Fatalf("read %q, %v; want %q", got, err, "pong ping\n")
	}
	if c, err := cl.Dial("tcp", "192.0.2.1:80"); err == nil {
		c.Close()
		t.Error("direct-tcpip to a non-loopback address was allowed")
	}
}
