package agent

import (
	"context"
	"errors"
	"fmt"
	"net"

	"golang.org/x/crypto/ssh"

	"banger/internal/sshdial"
)

// SSHClient runs the SSH handshake over c, a connection to the agent's SSH
// channel (SSHPortName or SSHVsockPort), logging in with key and accepting
// only the host key the agent reported in h over the host-only agent
// channel. ctx bounds the handshake (over virtio-serial it waits until the
// agent opens its port), and so does sshdial.MaxHandshake in bytes.
func SSHClient(ctx context.Context, c net.Conn, key ssh.Signer, h Hello) (*ssh.Client, error) {
	if !h.Supports(CapabilitySSH) || h.SSHHostKey == "" {
		return nil, errors.New("the guest agent does not serve SSH")
	}
	hostKey, _, _, _, err := ssh.ParseAuthorizedKey([]byte(h.SSHHostKey))
	if err != nil {
		return nil, fmt.Errorf("parse the agent's SSH host key: %w", err)
	}
	cfg := &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(hostKey),
	}
	client, err := sshdial.Client(ctx, c, "banger-agent", cfg)
	if err != nil {
		return nil, fmt.Errorf("ssh to the guest agent: %w", err)
	}
	return client, nil
}
