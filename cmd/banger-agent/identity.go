package main

import (
	"context"
	"strings"

	"golang.org/x/crypto/ssh"

	"banger/internal/agent"
	"banger/internal/guestinit"
	"banger/internal/guestssh"
)

// takeIdentity answers "identity" in a guest restored from a snapshot: the
// machine takes its own identity, then the SSH server the VM's own host
// key, which the host wrote on the clone's work disk (made here only for
// an older host that wrote none), so no two clones share one.
func (c *channels) takeIdentity(id agent.Identity) (agent.IdentityResult, error) {
	r, err := guestinit.TakeIdentity(context.Background(), c.log, id)
	if err != nil {
		return agent.IdentityResult{}, err
	}
	key, err := guestssh.HostKey(guestssh.WorkHostKeyPath)
	if err != nil {
		return agent.IdentityResult{}, err
	}
	next := *c.ssh.Load()
	next.HostKey = key
	c.ssh.Store(&next)
	r.SSHHostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key.PublicKey())))
	return r, nil
}
