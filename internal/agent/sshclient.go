package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/crypto/ssh"
)

// SSHClient runs the SSH handshake over c, a connection to the agent's SSH
// channel (SSHPortName or SSHVsockPort), logging in with key and accepting
// only the host key the agent reported in h over the host-only agent
// channel. ctx bounds the handshake: over virtio-serial it waits until the
// agent opens its port.
func SSHClient(ctx context.Context, c net.Conn, key ssh.Signer, h Hello) (*ssh.Client, error) {
	if !h.Supports(CapabilitySSH) || h.SSHHostKey == "" {
		return nil, errors.New("the guest agent does not serve SSH")
	}
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(h.SSHHostKey))
	if err != nil {
		return nil, fmt.Errorf("parse the agent's SSH host key: %w", err)
	}
	if d, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	cfg := &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(hostKey),
	}
	sc, chans, reqs, err := ssh.NewClientConn(c, "banger-agent", cfg)
	if err != nil {
		return nil, fmt.Errorf("ssh to the guest agent: %w", err)
	}
	if !stop() {
		sc.Close()
		return nil, fmt.Errorf("ssh to the guest agent: %w", ctx.Err())
	}
	_ = c.SetDeadline(time.Time{})
	return ssh.NewClient(sc, chans, reqs), nil
}
