package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sync"
	"time"
)

// exitWait bounds how long Close waits for ssh to exit once its stdin is
// closed, before it kills it.
const exitWait = 5 * time.Second

// Dial starts `ssh ... h banger system dial-stdio` and returns a net.Conn
// over its stdin and stdout. ssh's own messages go to stderr (nil: none).
// BatchMode keeps ssh from prompting: the user's agent, keys, config and
// known_hosts apply, a password prompt does not.
func Dial(ctx context.Context, h Host, stderr io.Writer) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	bin, err := exec.LookPath("ssh")
	if err != nil {
		return nil, fmt.Errorf("the ssh client is missing: apt-get install openssh-client")
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	// Not CommandContext: the connection outlives the dial's context.
	cmd := exec.Command(bin, h.SSHArgs([]string{"-T", "-o", "BatchMode=yes"}, DialCommand)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, stderr
	if err := cmd.Start(); err != nil {
		for _, f := range []*os.File{inR, inW, outR, outW} {
			f.Close()
		}
		return nil, fmt.Errorf("run ssh to %s: %w", h, err)
	}
	inR.Close()
	outW.Close()
	c := &conn{host: h, cmd: cmd, w: inW, r: outR, exited: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	return c, nil
}

// conn is a net.Conn over an ssh process's stdin (w) and stdout (r).
type conn struct {
	host    Host
	cmd     *exec.Cmd
	w, r    *os.File
	exited  chan struct{}
	waitErr error
	once    sync.Once
}

func (c *conn) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return n, timeoutError{}
	case errors.Is(err, io.EOF):
		return n, c.ended()
	}
	return n, err
}

// ended is the error of a read that found ssh's stdout closed: io.EOF when
// ssh ended well, else what went wrong, with a hint (its own messages are
// on stderr), instead of a bare EOF.
func (c *conn) ended() error {
	select {
	case <-c.exited:
	case <-time.After(time.Second):
		return io.EOF
	}
	var exit *exec.ExitError
	if !errors.As(c.waitErr, &exit) {
		return io.EOF
	}
	hint := "is banger installed on it, and its daemon running? (`banger daemon start` there)"
	if exit.ExitCode() == 255 {
		hint = "ssh could not connect or log in: its message is above"
	}
	return fmt.Errorf("ssh to %s ended with exit status %d: %s", c.host, exit.ExitCode(), hint)
}

func (c *conn) Write(b []byte) (int, error) { return c.w.Write(b) }

// CloseWrite ends what the daemon reads, as a TCP half-close does.
func (c *conn) CloseWrite() error { return c.w.Close() }

// Close closes ssh's stdin and stdout and returns; ssh, which then ends,
// is killed if it has not within exitWait (one still connecting ignores
// its stdin), without holding up the caller.
func (c *conn) Close() error {
	c.once.Do(func() {
		c.w.Close()
		c.r.Close()
		go func() {
			select {
			case <-c.exited:
			case <-time.After(exitWait):
				_ = c.cmd.Process.Kill()
			}
		}()
	})
	return nil
}

func (c *conn) LocalAddr() net.Addr  { return addr("local") }
func (c *conn) RemoteAddr() net.Addr { return addr(c.host.String()) }
func (c *conn) SetDeadline(t time.Time) error {
	return errors.Join(c.r.SetReadDeadline(t), c.w.SetWriteDeadline(t))
}
func (c *conn) SetReadDeadline(t time.Time) error  { return c.r.SetReadDeadline(t) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.w.SetWriteDeadline(t) }

type addr string

func (a addr) Network() string { return "ssh" }
func (a addr) String() string  { return string(a) }

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
