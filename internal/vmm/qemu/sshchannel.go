package qemu

import (
	"context"
	"errors"
	"fmt"
	"net"

	"banger/internal/vmm"
)

var (
	_ vmm.SSHDialer = (*QEMU)(nil)
	_ vmm.SSHDialer = (*Accelerated)(nil)
)

// DialSSH implements vmm.SSHDialer: the agent's SSH channel is the
// virtserialport SSHPortName, whose host end is the unix socket sshSocket
// (Config.SSHSocket). QEMU's chardev takes one connection at a time.
func (q *QEMU) DialSSH(ctx context.Context, _, sshSocket string) (net.Conn, error) {
	if sshSocket == "" {
		return nil, errors.New("this VM was started without the agent's SSH port")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", sshSocket)
	if err != nil {
		return nil, fmt.Errorf("connect to the agent's SSH port: %w", err)
	}
	return c, nil
}

// DialSSH implements vmm.SSHDialer.
func (a *Accelerated) DialSSH(ctx context.Context, agentSocket, sshSocket string) (net.Conn, error) {
	return a.byAccel["tcg"].DialSSH(ctx, agentSocket, sshSocket)
}
