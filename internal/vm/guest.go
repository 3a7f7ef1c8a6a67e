package vm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"golang.org/x/crypto/ssh"

	"banger/internal/agent"
	"banger/internal/poll"
	"banger/internal/progress"
	"banger/internal/sshdial"
	"banger/internal/sshkey"
	"banger/internal/vmm"
)

// Guest is the service's access into running guests: the agent channel,
// readiness after a boot (the agent's hello; for agents without SSH, then
// one SSH handshake with the guest's sshd), the daemon's SSH connection to
// the agent (agentssh.go), and what is copied in over SSH (the
// [[file_sync]] entries and the user's git identity). It is the one place
// that sets a guest's git identity.
type Guest struct {
	KeyPath     string
	KnownHosts  *sshkey.KnownHosts
	FileSync    []FileSync // copied into each VM at every start
	BootTimeout time.Duration
	// SyncLimit is the most one FileSync entry sends; 0 means
	// DefaultSyncLimit.
	SyncLimit int64
	sshPort   uint16       // the guest sshd's port; 0 means 22 (tests set it)
	Log       *slog.Logger // nil means slog.Default()
}

// GitIdentity is the git user.name and user.email to set in a guest.
// Empty values are left alone.
type GitIdentity struct{ Name, Email string }

// guestVM is what guest access needs to know of a VM.
type guestVM struct {
	ID, Name, IP string
	AgentSocket  string
	SSHSocket    string  // the agent's SSH channel, when the backend offers one
	Backend      vmm.VMM // for its own agent channel, if it has one
}

// pollEvery is how often a booting guest is asked again.
const pollEvery = 500 * time.Millisecond

// sshAttempt bounds one connection and handshake with a guest's sshd, so
// that a peer that accepts and never answers costs one attempt; the boot
// timeout bounds them all.
const sshAttempt = 20 * time.Second

func (g *Guest) log() *slog.Logger {
	if g.Log == nil {
		return slog.Default()
	}
	return g.Log
}

func (g *Guest) bootTimeout() time.Duration {
	if g.BootTimeout == 0 {
		return 5 * time.Minute
	}
	return g.BootTimeout
}

// errExitedDuringBoot is what a wait reports when the VMM process ends.
var errExitedDuringBoot = errors.New("the VM's process exited during boot")

// waitReady waits for the guest agent to answer (the guest has booted and
// its network is configured). When the agent serves SSH on a channel the
// backend offers, that is all: the returned link is the daemon's SSH
// connection over it, pinned to the host key hello reported, and file sync
// and git go over it. Otherwise (older images) it waits for the guest's
// sshd over the network, pinning its host key, and returns no link.
// exited closes if the VMM process ends first.
func (g *Guest) waitReady(ctx context.Context, v guestVM, exited <-chan struct{}, p progress.Func, git GitIdentity) (*sshLink, error) {
	h, err := g.waitHello(ctx, v, exited)
	if err != nil {
		return nil, err
	}
	if !agentSSH(v, h) { // an older agent: the guest's sshd, over the network
		p.Msg("ssh", "waiting for ssh on "+v.IP)
		return nil, g.waitSSH(ctx, v, exited, p, git)
	}
	link := g.newLink(v)
	if h.Work && len(g.FileSync) == 0 && git.Name == "" && git.Email == "" {
		// Nothing to do in the guest first: ready is the hello. The link
		// is dialled now, in the background, for the first session.
		go func() { _, _ = link.get(context.WithoutCancel(ctx)) }()
		return link, nil
	}
	c, err := g.waitLink(ctx, v, link, exited)
	if err == nil && !h.Work { // an agent under systemd may answer before the mount
		err = g.waitWorkDisk(ctx, c, exited)
	}
	if err == nil {
		err = g.setUp(ctx, c, p, git)
	}
	if err != nil {
		link.close()
		return nil, err
	}
	return link, nil
}

// waitLink dials link until the handshake succeeds: the agent may answer
// hello before its SSH port is open or the work disk with the authorized
// key is mounted.
func (g *Guest) waitLink(ctx context.Context, v guestVM, link *sshLink, exited <-chan struct{}) (*ssh.Client, error) {
	timeout := g.bootTimeout()
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var c *ssh.Client
	var last error
	err := poll.Until(actx, pollEvery, exited, func(ctx context.Context) (bool, error) {
		t0 := time.Now()
		c, last = link.get(ctx)
		if last != nil {
			g.log().DebugContext(ctx, "ssh to the agent", "vm", v.Name, "err", last, "took", time.Since(t0))
		}
		return last == nil, nil
	})
	switch {
	case errors.Is(err, poll.ErrExited):
		return nil, errExitedDuringBoot
	case err != nil && ctx.Err() == nil && actx.Err() != nil:
		return nil, fmt.Errorf("ssh to the agent of %s did not succeed within %s (last error: %v)", v.Name, timeout, last)
	}
	return c, err
}

// waitHello asks the guest agent for its hello until it answers.
func (g *Guest) waitHello(ctx context.Context, v guestVM, exited <-chan struct{}) (agent.Hello, error) {
	timeout := g.bootTimeout()
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	var h agent.Hello
	err := poll.Until(actx, pollEvery, exited, func(ctx context.Context) (bool, error) {
		var err error
		h, err = g.hello(ctx, v, v.AgentSocket)
		if err == nil {
			g.log().InfoContext(ctx, "guest agent ready", "vm", v.Name, "agent", h.Version, "protocol", h.Protocol, "ssh", agentSSH(v, h))
			return true, nil
		}
		var old *agent.TooOldError
		if errors.As(err, &old) {
			return false, err
		}
		last = err
		return false, nil
	})
	switch {
	case errors.Is(err, poll.ErrExited):
		return h, errExitedDuringBoot
	case err != nil && ctx.Err() == nil && actx.Err() != nil:
		return h, fmt.Errorf("the guest agent did not answer within %s (last error: %v); is banger-agent in the image?", timeout, last)
	}
	return h, err
}

// setUp does the work of a new guest: file sync, then the git identity,
// within the boot timeout.
func (g *Guest) setUp(ctx context.Context, c *ssh.Client, p progress.Func, git GitIdentity) error {
	ctx, cancel := context.WithTimeout(ctx, g.bootTimeout())
	defer cancel()
	if err := g.syncFiles(ctx, c, p); err != nil {
		return err
	}
	return setGitIdentity(ctx, c, git)
}

// waitSSH connects with SSH, pinning the guest's host key, and does the
// work of a new connection: file sync, then the git identity.
func (g *Guest) waitSSH(ctx context.Context, v guestVM, exited <-chan struct{}, p progress.Func, git GitIdentity) error {
	signer, _, err := sshkey.Ensure(g.KeyPath)
	if err != nil {
		return err
	}
	timeout := g.bootTimeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cfg := &ssh.ClientConfig{
		User:              "root",
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   g.KnownHosts.Callback(sshkey.Alias(v.ID)),
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           5 * time.Second,
	}
	ip, err := netip.ParseAddr(v.IP)
	if err != nil {
		return fmt.Errorf("guest address %q: %w", v.IP, err)
	}
	port := uint16(22)
	if g.sshPort != 0 {
		port = g.sshPort
	}
	addr := netip.AddrPortFrom(ip, port).String()
	var c *ssh.Client
	var last error
	err = poll.Until(ctx, pollEvery, exited, func(ctx context.Context) (bool, error) {
		c, last = sshdial.Dial(ctx, addr, cfg, sshAttempt)
		if errors.Is(last, sshkey.ErrHostKeyMismatch) {
			return false, last
		}
		return last == nil, nil
	})
	switch {
	case errors.Is(err, poll.ErrExited):
		return errExitedDuringBoot
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("ssh on %s did not answer within %s (last error: %v)", addr, timeout, last)
	case err != nil:
		return err
	}
	defer c.Close()
	return g.setUp(ctx, c, p, git)
}

// dialAgent connects to a VM's agent through its backend's channel, or
// the plain unix socket when the backend has none of its own.
func (g *Guest) dialAgent(ctx context.Context, v guestVM, socket string) (*agent.Client, error) {
	if d, ok := v.Backend.(vmm.AgentDialer); ok {
		conn, err := d.DialAgent(ctx, socket)
		if err != nil {
			return nil, fmt.Errorf("connect to the guest agent: %w", err)
		}
		return agent.NewClient(conn), nil
	}
	return agent.Dial(ctx, socket)
}

func (g *Guest) hello(ctx context.Context, v guestVM, socket string) (agent.Hello, error) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c, err := g.dialAgent(cctx, v, socket)
	if err != nil {
		return agent.Hello{}, err
	}
	defer c.Close()
	return c.Hello(cctx)
}

// withAgent connects to a running VM's agent, checks that it offers
// method, and calls fn with the connection.
func (g *Guest) withAgent(ctx context.Context, v guestVM, method string, fn func(*agent.Client) error) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := g.dialAgent(cctx, v, v.AgentSocket)
	if err != nil {
		return fmt.Errorf("VM %s: %w", v.Name, err)
	}
	defer c.Close()
	h, err := c.Hello(cctx)
	if err != nil {
		return fmt.Errorf("VM %s: %w", v.Name, err)
	}
	if !h.Supports(method) {
		return fmt.Errorf("VM %s: its banger-agent (%s) does not offer %q; rebuild the image with `banger image build --force`", v.Name, h.Version, method)
	}
	return fn(c)
}

// forget drops the pinned host key of VM id.
func (g *Guest) forget(id string) error {
	return g.KnownHosts.Forget(sshkey.Alias(id))
}
