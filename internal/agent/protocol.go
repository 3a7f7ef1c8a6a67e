// Package agent is the protocol between bangerd and banger-agent, the small
// program that runs inside every guest. Both sides live here.
//
// The transport is a byte stream on a host-only channel: a virtio-serial
// port or vsock, whichever the VMM offers. Each message is one JSON object
// on one line.
package agent

import (
	"encoding/json"
)

// GuestBinary is where every image has the agent.
const GuestBinary = "/usr/local/bin/banger-agent"

// ProtocolVersion is bumped whenever a method changes incompatibly.
const ProtocolVersion = 1

// VsockPort is the vsock port the agent listens on where the VMM offers
// vsock.
const VsockPort = 1024

// PortName is the virtio-serial port name; the guest sees
// /dev/virtio-ports/<PortName>.
const PortName = "org.banger.agent"

// SSHPortName and SSHVsockPort are the agent's second host-only channel,
// which carries SSH (exec, shells, tar streams, port forwards) when the
// agent offers CapabilitySSH.
const (
	SSHPortName  = "org.banger.ssh"
	SSHVsockPort = 1025
)

// CapabilitySSH in Hello.Capabilities says the agent serves SSH on
// SSHPortName / SSHVsockPort; Hello.SSHHostKey is then its host key.
const CapabilitySSH = "ssh"

// SSHNestedHost and SSHNestedPort name no guest socket: a direct-tcpip
// channel opened to them on the agent's SSH connection is answered by the
// agent itself with a whole new SSH server connection over that channel.
// This is how the daemon gives each `banger vm exec` (run by the system ssh
// client through a ProxyCommand) its own SSH connection while the
// virtio-serial port carries only the daemon's one. Agents offering
// CapabilitySSH serve it (guestssh.NestedHost and NestedPort).
const (
	SSHNestedHost = "banger-agent"
	SSHNestedPort = 22
)

// Request is one call from the host.
type Request struct {
	ID     uint64          `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}

// Response answers the Request with the same ID.
type Response struct {
	ID     uint64          `json:"id"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
}

// Hello is the result of method "hello".
type Hello struct {
	Protocol int    `json:"protocol"`
	Version  string `json:"version"`
	Hostname string `json:"hostname"`
	// Capabilities lists the methods the agent answers. Agents older than
	// the field send none; they answer only "hello" and "health".
	Capabilities []string `json:"capabilities,omitempty"`
	// SSHHostKey is the agent's SSH host key in authorized_keys format,
	// sent with CapabilitySSH so the host can pin it: the agent channel
	// is host-only, so what it says is trusted.
	SSHHostKey string `json:"ssh_host_key,omitempty"`
	// Work says the work disk is mounted on /root, so the host need not
	// wait for it. Agents older than the field never say so.
	Work bool `json:"work,omitempty"`
}

// Supports reports whether the agent that sent h answers method (or has
// a capability such as CapabilitySSH).
func (h Hello) Supports(method string) bool {
	if len(h.Capabilities) == 0 {
		return method == "hello" || method == "health"
	}
	for _, c := range h.Capabilities {
		if c == method {
			return true
		}
	}
	return false
}

// Health is the result of method "health".
type Health struct {
	OK            bool    `json:"ok"`
	UptimeSeconds float64 `json:"uptime_seconds"`
}
