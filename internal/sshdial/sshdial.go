// Package sshdial runs the daemon's SSH client handshakes with guests as
// bounded exchanges: everything a guest sends before the connection is
// authenticated (its banner, key exchange, auth replies, any number of
// ignore and debug messages) is limited in bytes and in time.
package sshdial

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/crypto/ssh"

	"banger/internal/limit"
)

// MaxHandshake is how many bytes a peer may send before authentication
// succeeds. A real server sends a few kilobytes; the banner alone is
// already bounded by x/crypto/ssh (255 bytes a line, 1024 lines), but a
// peer may follow it with endless ignore messages.
const MaxHandshake = 1 << 20

// Timeout bounds a handshake whose context has no deadline.
const Timeout = 30 * time.Second

// Client runs the SSH client handshake over c, as ssh.NewClientConn does,
// within ctx (its deadline, else Timeout; or until it ends) and reading at
// most MaxHandshake bytes from the peer until it is done. On success the
// connection has no deadline and no byte limit; on failure c is closed.
func Client(ctx context.Context, c net.Conn, addr string, cfg *ssh.ClientConfig) (*ssh.Client, error) {
	lc := limit.NewConn(c, MaxHandshake, "the SSH handshake")
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(Timeout)
	}
	_ = c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	sc, chans, reqs, err := ssh.NewClientConn(lc, addr, cfg)
	if err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ssh handshake with %s: %w (%v)", addr, context.Cause(ctx), err)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("ssh handshake with %s: no answer by its deadline: %w", addr, err)
		}
		return nil, fmt.Errorf("ssh handshake with %s: %w", addr, err)
	}
	if !stop() {
		sc.Close()
		return nil, fmt.Errorf("ssh handshake with %s: %w", addr, context.Cause(ctx))
	}
	_ = c.SetDeadline(time.Time{})
	lc.Lift()
	return ssh.NewClient(sc, chans, reqs), nil
}

// Dial connects to addr over TCP and runs Client. The handshake has a
// deadline of its own, at most perTry after the connection is made (and
// never after ctx's), so that a peer that accepts and says nothing costs
// one attempt, not the caller's whole wait.
func Dial(ctx context.Context, addr string, cfg *ssh.ClientConfig, perTry time.Duration) (*ssh.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, perTry)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return Client(ctx, c, addr, cfg)
}
