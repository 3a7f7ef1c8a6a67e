package vm

import (
	"context"
	"fmt"
	"net"
)

// ViaAgent is SSHTarget.Via for a VM reached over its agent's SSH channel.
const ViaAgent = "agent"

// Connect opens a byte stream to a new SSH server connection in the
// running VM called name: a channel of the daemon's one connection to the
// VM's agent, on which the agent serves a nested SSH connection. A system
// ssh client speaks SSH over it (its ProxyCommand is `banger vm connect`),
// so each client gets its own connection, authentication and sessions
// while the agent's port carries one. VMs not reached over their agent
// (see SSHTarget.Via) have none.
func (s *Service) Connect(ctx context.Context, name string) (net.Conn, error) {
	v, err := s.getVM(ctx, name)
	if err != nil {
		return nil, err
	}
	rt := s.runs.get(v.ID)
	if rt == nil {
		return nil, badRequest("VM %s is not running; start it with `banger vm start %s`", v.Name, v.Name)
	}
	link := s.runs.link(rt, func() *sshLink { return s.Guest.newLink(s.guestOf(v, rt)) })
	if link == nil {
		return nil, badRequest("VM %s is not reached over its agent (its image's agent serves no SSH); use ssh to %s", v.Name, v.IP)
	}
	conn, err := link.dialNested(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect to VM %s over its agent: %w", v.Name, err)
	}
	return s.trackSession(v.ID, conn), nil
}
