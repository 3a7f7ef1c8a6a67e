package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair: the master for the test, the slave
// for the command.
func openPTY() (master, slave *os.File, err error) {
	master, err = os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlock pty: %w", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("pty number: %w", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("open /dev/pts/%d: %w", n, err)
	}
	return master, slave, nil
}

// ptySession is the CLI running in the namespace on a terminal.
type ptySession struct {
	master *os.File
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	read   chan struct{} // signalled after each read
}

// bangerPTY starts the CLI in the namespace with a terminal as its
// controlling terminal and stdin, stdout and stderr.
func (e *env) bangerPTY(args ...string) *ptySession {
	e.t.Helper()
	argv := append([]string{"ip", "netns", "exec", e.netns, filepath.Join(e.bin, "banger"), "--config", e.cfgPath}, args...)
	return startPTY(e.t, argv)
}

// startPTY starts argv on a new terminal of 40x120; the test's cleanup
// kills it.
func startPTY(t *testing.T, argv []string) *ptySession {
	t.Helper()
	master, slave, err := openPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer slave.Close()
	if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 40, Col: 120}); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.Env = append(os.Environ(), "TERM=xterm")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		master.Close()
		t.Fatal(err)
	}
	s := &ptySession{master: master, cmd: cmd, read: make(chan struct{}, 1)}
	go s.copyOut()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		master.Close()
	})
	return s
}

func (s *ptySession) copyOut() {
	buf := make([]byte, 4096)
	for {
		n, err := s.master.Read(buf)
		s.mu.Lock()
		s.out.Write(buf[:n])
		s.mu.Unlock()
		select {
		case s.read <- struct{}{}:
		default:
		}
		if err != nil { // EIO once the last slave holder exits
			return
		}
	}
}

// output is what the terminal showed so far.
func (s *ptySession) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// waitOutput waits until the terminal has shown want.
func (s *ptySession) waitOutput(ctx context.Context, want string) error {
	for !strings.Contains(s.output(), want) {
		select {
		case <-s.read:
		case <-ctx.Done():
			return fmt.Errorf("no %q on the terminal: %w", want, ctx.Err())
		}
	}
	return nil
}

// wait waits for the CLI to exit and returns its exit code.
func (s *ptySession) wait(timeout time.Duration) (int, error) {
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), nil
		}
		return 0, err
	case <-time.After(timeout):
		_ = s.cmd.Process.Kill()
		return -1, fmt.Errorf("the CLI did not exit within %s", timeout)
	}
}
