// Package vport reads and writes a guest's virtio-serial port without
// trusting its interrupts.
//
// A guest restored from a snapshot sometimes misses the interrupt that
// says the host wrote to a port (seen with QEMU 7.2 microvm under TCG: a
// clone's SSH channel went quiet until any other traffic on the device
// arrived). A read that waits on the interrupt, as Go's poller and the
// kernel's blocking read both do, then waits for ever. poll(2) on the
// port checks its virtqueues itself, so Conn waits with poll and a short
// timeout: a lost interrupt costs at most one interval.
package vport

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Interval is the longest a Conn waits on poll(2) before asking again.
const Interval = 50 * time.Millisecond

// Conn is a virtio-serial port as a net.Conn.
type Conn struct {
	f      *os.File
	fd     int
	closed atomic.Bool
	once   sync.Once

	mu             sync.Mutex
	rdline, wrline time.Time
}

// Open opens the port device at path.
func Open(path string) (*Conn, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd()) // leaves Go's poller; the fd is non-blocking again below
	if err := unix.SetNonblock(fd, true); err != nil {
		f.Close()
		return nil, err
	}
	return &Conn{f: f, fd: fd}, nil
}

// Fd is the port's file descriptor.
func (c *Conn) Fd() int { return c.fd }

// wait polls for events until the port has them, the deadline passes or
// the conn is closed.
func (c *Conn) wait(events int16, deadline func() time.Time) error {
	for {
		if c.closed.Load() {
			return net.ErrClosed
		}
		d := Interval
		if dl := deadline(); !dl.IsZero() {
			left := time.Until(dl)
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			d = min(d, left)
		}
		fds := []unix.PollFd{{Fd: int32(c.fd), Events: events}}
		n, err := unix.Poll(fds, int(d.Milliseconds())+1)
		switch {
		case errors.Is(err, unix.EINTR) || n == 0:
			continue
		case err != nil:
			return err
		}
		return nil // ready, or an error or hang-up the next call reports
	}
}

func (c *Conn) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(c.fd, p)
		switch {
		case c.closed.Load():
			return 0, net.ErrClosed
		case err == nil && n == 0 && len(p) > 0:
			return 0, io.EOF
		case err == nil:
			return n, nil
		case !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR):
			return 0, err
		}
		if err := c.wait(unix.POLLIN, c.readDeadline); err != nil {
			return 0, err
		}
	}
}

func (c *Conn) Write(p []byte) (int, error) {
	written := 0
	for written < len(p) {
		n, err := unix.Write(c.fd, p[written:])
		if n > 0 {
			written += n
		}
		switch {
		case c.closed.Load():
			return written, net.ErrClosed
		case err == nil:
			continue
		case !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EINTR):
			return written, err
		}
		if err := c.wait(unix.POLLOUT, c.writeDeadline); err != nil {
			return written, err
		}
	}
	return written, nil
}

// Close closes the port; a Read or Write waiting on it returns within
// Interval.
func (c *Conn) Close() error {
	var err error
	c.once.Do(func() {
		c.closed.Store(true)
		err = c.f.Close()
	})
	return err
}

func (c *Conn) readDeadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rdline
}

func (c *Conn) writeDeadline() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wrline
}

func (c *Conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rdline, c.wrline = t, t
	return nil
}

func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rdline = t
	return nil
}

func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wrline = t
	return nil
}

func (c *Conn) LocalAddr() net.Addr  { return addr(c.f.Name()) }
func (c *Conn) RemoteAddr() net.Addr { return addr("host") }

type addr string

func (a addr) Network() string { return "virtio-serial" }
func (a addr) String() string  { return string(a) }
