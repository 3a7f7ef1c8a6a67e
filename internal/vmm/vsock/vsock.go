// Package vsock dials a guest's vsock ports through a hybrid vsock unix
// socket, the host side of the virtio-vsock device that Firecracker (and
// cloud-hypervisor) expose as a unix socket with a CONNECT handshake.
package vsock

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Dial connects to a guest vsock port through Firecracker's host-side
// unix socket (the vsock device's uds_path): it sends "CONNECT <port>\n" and
// expects "OK <hostport>\n" before the stream belongs to the guest.
func Dial(ctx context.Context, udsPath string, port uint32) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", udsPath)
	if err != nil {
		return nil, fmt.Errorf("dial vsock port %d via %s: %w", port, udsPath, err)
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(10 * time.Second)
	}
	_ = c.SetDeadline(deadline)
	if _, err := fmt.Fprintf(c, "CONNECT %d\n", port); err != nil {
		c.Close()
		return nil, fmt.Errorf("dial vsock port %d via %s: send CONNECT: %w", port, udsPath, err)
	}
	// Read the answer a byte at a time so nothing the guest sends after it is
	// swallowed by a buffer.
	line, err := readLine(c, 64)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("dial vsock port %d via %s: read answer: %w", port, udsPath, err)
	}
	f := strings.Fields(line)
	if len(f) != 2 || f[0] != "OK" {
		c.Close()
		return nil, fmt.Errorf("dial vsock port %d via %s: refused: %q", port, udsPath, line)
	}
	if _, err := strconv.ParseUint(f[1], 10, 32); err != nil {
		c.Close()
		return nil, fmt.Errorf("dial vsock port %d via %s: bad answer %q", port, udsPath, line)
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func readLine(c net.Conn, max int) (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < max {
		if _, err := c.Read(buf); err != nil {
			return b.String(), err
		}
		if buf[0] == '\n' {
			return b.String(), nil
		}
		b.WriteByte(buf[0])
	}
	return b.String(), fmt.Errorf("answer longer than %d bytes", max)
}
