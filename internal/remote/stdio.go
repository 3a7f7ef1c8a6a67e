package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
)

// DialStdio joins in and out to the daemon's unix socket: what comes on in
// goes to the daemon, the daemon's answers to out. It returns when the
// daemon closes the connection, or when in ends (the daemon's side is then
// half-closed and its remaining answer is still copied), or when ctx ends.
func DialStdio(ctx context.Context, socket string, in io.Reader, out io.Writer) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return fmt.Errorf("connect to bangerd on %s: %w", socket, err)
	}
	uc := c.(*net.UnixConn)
	defer uc.Close()
	stop := context.AfterFunc(ctx, func() { uc.Close() })
	defer stop()
	upDone := make(chan error, 1)
	go func() {
		_, err := io.Copy(uc, in)
		_ = uc.CloseWrite()
		upDone <- err
	}()
	_, err = io.Copy(out, uc)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("copy from bangerd: %w", err)
	}
	// The daemon closed: the copy from in may still block on a read that
	// only the client's exit ends; returning closes our stdin's reader.
	select {
	case err := <-upDone:
		if err != nil && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("copy to bangerd: %w", err)
		}
	default:
	}
	return nil
}
