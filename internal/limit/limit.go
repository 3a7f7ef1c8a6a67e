// Package limit bounds reads of data a guest controls: a line, a stream,
// a connection's bytes before it is trusted, and collected command output.
// Each bound fails with an *Error that says what was too large.
package limit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Error says that what was read exceeded its limit.
type Error struct {
	What  string // "agent line", "SSH handshake", ...
	Limit int64  // bytes
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s exceeds the limit of %s", e.What, Size(e.Limit))
}

// Is makes errors.Is(err, ErrExceeded) true for every *Error.
func (e *Error) Is(target error) bool { return target == ErrExceeded }

// ErrExceeded matches every *Error with errors.Is.
var ErrExceeded = errors.New("limit exceeded")

// Size formats n bytes for an error message.
func Size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// ReadLine reads one line ending in '\n' from r, without the newline. A
// line longer than max bytes is an *Error: what was read of it is
// discarded, and the caller should not read r again, since the rest of
// the line is still there.
func ReadLine(r *bufio.Reader, max int, what string) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		if len(line)+len(frag) > max+1 || (err == bufio.ErrBufferFull && len(line)+len(frag) > max) {
			return nil, &Error{What: what, Limit: int64(max)}
		}
		line = append(line, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return nil, err
		}
		return line[:len(line)-1], nil
	}
}

// Reader returns r that fails with an *Error once more than n bytes have
// been read through it.
func Reader(r io.Reader, n int64, what string) io.Reader {
	return &reader{r: r, left: n, limit: n, what: what}
}

type reader struct {
	r     io.Reader
	left  int64
	limit int64
	what  string
}

func (l *reader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, &Error{What: l.what, Limit: l.limit}
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n + int(l.left), &Error{What: l.what, Limit: l.limit}
	}
	return n, err
}

// Conn is a connection whose reads fail with an *Error once more than its
// budget has been read, until Lift: what a peer may send before it is
// trusted (an SSH banner and handshake).
type Conn struct {
	net.Conn
	what  string
	limit int64
	read  atomic.Int64
	off   atomic.Bool
}

// NewConn wraps c with a budget of n bytes.
func NewConn(c net.Conn, n int64, what string) *Conn {
	return &Conn{Conn: c, what: what, limit: n}
}

// Lift removes the budget.
func (c *Conn) Lift() { c.off.Store(true) }

// Read implements net.Conn.
func (c *Conn) Read(p []byte) (int, error) {
	if c.off.Load() {
		return c.Conn.Read(p)
	}
	left := c.limit - c.read.Load()
	if left <= 0 {
		return 0, &Error{What: c.what, Limit: c.limit}
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// Buffer is an io.Writer for command output that keeps at most its limit
// in memory. The first write past the limit fails with an *Error and calls
// the function given to NewBuffer, which should stop the command; later
// writes fail the same way. It is safe for concurrent use (stdout and
// stderr).
type Buffer struct {
	mu       sync.Mutex
	buf      []byte
	limit    int
	what     string
	exceeded func()
	err      error
}

// NewBuffer returns a Buffer of at most n bytes; exceeded (may be nil) is
// called once, when a write would pass n.
func NewBuffer(n int, what string, exceeded func()) *Buffer {
	return &Buffer{limit: n, what: what, exceeded: exceeded}
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if len(b.buf)+len(p) > b.limit {
		n := b.limit - len(b.buf)
		b.buf = append(b.buf, p[:n]...)
		b.err = &Error{What: b.what, Limit: int64(b.limit)}
		if b.exceeded != nil {
			b.exceeded()
		}
		return n, b.err
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// Bytes returns what was kept.
func (b *Buffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf...)
}

// Err returns the *Error once the limit was passed, else nil.
func (b *Buffer) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// Tail is a writer that keeps only the last Max bytes written to it: the
// end of a tool's output, for an error message.
type Tail struct {
	Max int
	buf []byte
}

func (t *Tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.Max {
		t.buf = bytes.Clone(t.buf[len(t.buf)-t.Max:])
	}
	return len(p), nil
}

func (t *Tail) String() string { return string(t.buf) }
