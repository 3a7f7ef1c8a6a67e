package guestssh

import (
	"context"
	"net"
	"time"

	"golang.org/x/crypto/ssh"
)

// NestedHost and NestedPort name no guest socket: a direct-tcpip channel
// to them is answered by this Server itself, with a whole new SSH server
// connection over the channel. The daemon opens one per system ssh client
// it tunnels (see docs/agent.md), so each gets its own connection while a
// virtio-serial port carries only the daemon's one. They are
// agent.SSHNestedHost and agent.SSHNestedPort, which the daemon dials
// (internal/agent's tests check that the two agree).
const (
	NestedHost = "banger-agent"
	NestedPort = 22
)

// isNested says whether a direct-tcpip request names the agent's own SSH
// server (NestedHost:NestedPort) rather than a guest socket.
func isNested(host string, port uint32) bool {
	return host == NestedHost && port == NestedPort
}

// serveNested answers a direct-tcpip channel to the agent's own name by
// running a whole SSH server connection over it: the host's system ssh
// client, tunnelled through the daemon's one connection, gets a connection
// (and authentication) of its own.
func (s *Server) serveNested(ctx context.Context, nc ssh.NewChannel) {
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	if err := s.ServeConn(ctx, channelConn{ch}); err != nil {
		s.log().Debug("nested ssh connection", "err", err)
	}
}

// channelConn is an SSH channel as the net.Conn ServeConn reads from.
// Deadlines are not supported; ServeConn ends the connection by closing it.
type channelConn struct{ ssh.Channel }

func (channelConn) LocalAddr() net.Addr              { return chanAddr(NestedHost) }
func (channelConn) RemoteAddr() net.Addr             { return chanAddr("host") }
func (channelConn) SetDeadline(time.Time) error      { return nil }
func (channelConn) SetReadDeadline(time.Time) error  { return nil }
func (channelConn) SetWriteDeadline(time.Time) error { return nil }

type chanAddr string

func (a chanAddr) Network() string { return "ssh-channel" }
func (a chanAddr) String() string  { return string(a) }
