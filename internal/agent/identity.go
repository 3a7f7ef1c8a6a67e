package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Methods a guest restored from a snapshot answers (see docs/snapshots.md).
const (
	// MethodSettle blocks until the guest has settled enough to be saved:
	// its RNG is initialised (a snapshot taken before hung on every
	// restore).
	MethodSettle = "settle"
	// MethodIdentity makes a restored guest take its own identity before
	// any user code runs in it.
	MethodIdentity = "identity"
)

// Identity is the params of method "identity": everything a clone of a
// snapshot must not share with its template or its siblings.
type Identity struct {
	// Net is the clone's address, gateway, DNS and hostname.
	Net NetConfig `json:"net"`
	// MAC is eth0's new hardware address.
	MAC string `json:"mac"`
	// MachineID is written to /etc/machine-id (32 hex digits).
	MachineID string `json:"machine_id"`
	// Entropy is fresh host randomness credited to the guest's RNG,
	// which is then reseeded (microvm has no VMGenID).
	Entropy []byte `json:"entropy"`
	// Time is the host's clock: the guest's wall clock is stale after a
	// restore.
	Time time.Time `json:"time"`
	// WorkDevice is mounted on /root once its size is WorkSize bytes:
	// the clone's own work disk, behind the device the template left
	// unmounted. Empty: no work disk.
	WorkDevice string `json:"work_device,omitempty"`
	WorkSize   int64  `json:"work_size,omitempty"`
}

// IdentityResult is the result of method "identity".
type IdentityResult struct {
	// SSHHostKey is the agent's new SSH host key (authorized_keys line),
	// made in the guest after the restore; the host pins it.
	SSHHostKey string `json:"ssh_host_key,omitempty"`
	// SSHDHostKey is the new host key of the image's own sshd, when it
	// has one (the template's keys are replaced).
	SSHDHostKey string `json:"sshd_host_key,omitempty"`
	// What the guest reads back once it took the identity, so the host
	// can check it: boot_id, hostname, eth0's MAC and addresses,
	// machine-id, and 16 bytes of /dev/urandom.
	BootID    string   `json:"boot_id"`
	Hostname  string   `json:"hostname"`
	MAC       string   `json:"mac"`
	Addrs     []string `json:"addrs"`
	MachineID string   `json:"machine_id"`
	Random    []byte   `json:"random"`
}

// Settled is the result of method "settle".
type Settled struct {
	// Waited is how long the guest's RNG took to initialise, from the call.
	Waited time.Duration `json:"waited"`
}

// Settle waits until the guest can be snapshot.
func (c *Client) Settle(ctx context.Context) (Settled, error) {
	var s Settled
	err := c.Call(ctx, MethodSettle, &s)
	return s, err
}

// TakeIdentity gives a restored guest its own identity.
func (c *Client) TakeIdentity(ctx context.Context, id Identity) (IdentityResult, error) {
	var r IdentityResult
	err := c.CallParams(ctx, MethodIdentity, id, &r)
	return r, err
}

// paramMethods are the methods that take params: a restored guest's
// identity, when the agent can take one.
func (s *Server) paramMethods() map[string]func(json.RawMessage) (any, error) {
	m := map[string]func(json.RawMessage) (any, error){}
	if s.Settle != nil {
		m[MethodSettle] = func(json.RawMessage) (any, error) { return s.Settle() }
	}
	if s.Identity != nil {
		m[MethodIdentity] = func(p json.RawMessage) (any, error) {
			var id Identity
			if err := json.Unmarshal(p, &id); err != nil {
				return nil, fmt.Errorf("decode identity: %w", err)
			}
			r, err := s.Identity(id)
			if err != nil {
				return nil, err
			}
			s.setSSHHostKey(r.SSHHostKey)
			return r, nil
		}
	}
	return m
}
