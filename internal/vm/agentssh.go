package vm

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"banger/internal/agent"
	"banger/internal/guestssh"
	"banger/internal/poll"
	"banger/internal/sshkey"
	"banger/internal/vmm"
)

// sshLink is the daemon's one SSH connection to a running VM's agent, over
// the agent's SSH channel (a virtio-serial port carries one connection at a
// time). Every session, tar stream and forward is a channel of it. It is
// dialled on first use, dialled again when the connection dropped, and
// closed when the run ends.
type sshLink struct {
	dial func(ctx context.Context) (*ssh.Client, error)

	mu     sync.Mutex
	client *ssh.Client
	closed bool
}

// linkDialTimeout bounds one dial of a link (hello, then the handshake,
// which over virtio-serial waits until the agent opens its port), so that
// callers waiting on the link's lock are not held forever.
const linkDialTimeout = 30 * time.Second

var errLinkClosed = errors.New("the VM's agent connection is closed")

// get returns the live client, dialling one when there is none. Dials are
// serialised: the port takes one connection at a time.
func (l *sshLink) get(ctx context.Context) (*ssh.Client, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errLinkClosed
	}
	if l.client != nil {
		return l.client, nil
	}
	ctx, cancel := context.WithTimeout(ctx, linkDialTimeout)
	defer cancel()
	c, err := l.dial(ctx)
	if err != nil {
		return nil, err
	}
	l.client = c
	go func() {
		_ = c.Wait()
		l.drop(c)
	}()
	return c, nil
}

// drop closes c and forgets it, if it is still the live client.
func (l *sshLink) drop(c *ssh.Client) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.client == c {
		l.client = nil
	}
	_ = c.Close()
}

// close ends the connection for good.
func (l *sshLink) close() {
	l.mu.Lock()
	c := l.client
	l.client, l.closed = nil, true
	l.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// open runs fn, which opens one channel on the client. When that fails
// because the connection is gone (the guest agent restarted, the port was
// reset), it dials again and retries once.
func (l *sshLink) open(ctx context.Context, fn func(*ssh.Client) error) error {
	for attempt := 0; ; attempt++ {
		c, err := l.get(ctx)
		if err != nil {
			return err
		}
		err = fn(c)
		if err == nil || attempt > 0 || !connGone(ctx, err) {
			return err
		}
		l.drop(c)
	}
}

// connGone says whether opening a channel failed because the connection
// is gone (EOF, a broken pipe, a closed socket) rather than because the
// guest refused the channel or the caller gave up.
func connGone(ctx context.Context, err error) bool {
	var refused *ssh.OpenChannelError
	return ctx.Err() == nil && !errors.As(err, &refused)
}

// dialNested opens a channel that carries a whole SSH connection of its
// own, served by the agent in process (agent.SSHNestedHost): what a system
// ssh client gets through `banger vm connect`.
func (l *sshLink) dialNested(ctx context.Context) (net.Conn, error) {
	addr := net.JoinHostPort(agent.SSHNestedHost, strconv.Itoa(agent.SSHNestedPort))
	var conn net.Conn
	err := l.open(ctx, func(c *ssh.Client) (err error) {
		conn, err = c.DialContext(ctx, "tcp", addr)
		return err
	})
	return conn, err
}

// agentSSH says whether v is reached over its agent's SSH channel: the
// backend offers the channel for this run and the agent serves SSH.
func agentSSH(v guestVM, h agent.Hello) bool {
	_, ok := v.Backend.(vmm.SSHDialer)
	return ok && v.SSHSocket != "" && h.Supports(agent.CapabilitySSH)
}

// newLink returns the link to v's agent. Each dial asks the agent for its
// hello, pins the host key it reports in banger's known_hosts under the
// VM's alias (so the system ssh client verifies the same key), and runs
// the SSH handshake over the backend's channel accepting only that key.
func (g *Guest) newLink(v guestVM) *sshLink {
	return &sshLink{dial: func(ctx context.Context) (*ssh.Client, error) {
		h, err := g.hello(ctx, v, v.AgentSocket)
		if err != nil {
			return nil, err
		}
		if !agentSSH(v, h) {
			return nil, fmt.Errorf("VM %s: its agent (%s) does not serve SSH", v.Name, h.Version)
		}
		if err := g.pin(v.ID, h.SSHHostKey); err != nil {
			return nil, err
		}
		signer, _, err := sshkey.Ensure(g.KeyPath)
		if err != nil {
			return nil, err
		}
		conn, err := v.Backend.(vmm.SSHDialer).DialSSH(ctx, v.AgentSocket, v.SSHSocket)
		if err != nil {
			return nil, fmt.Errorf("VM %s: %w", v.Name, err)
		}
		c, err := agent.SSHClient(ctx, conn, signer, h)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("VM %s: %w", v.Name, err)
		}
		return c, nil
	}}
}

// pin records the agent's host key (an authorized_keys line) for VM id,
// replacing any other key recorded for it. What the agent says in hello
// comes over the host-only agent channel, so it is trusted as it is: an
// agent without a key on disk makes a new one at every start.
func (g *Guest) pin(id, line string) error {
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return fmt.Errorf("parse the agent's SSH host key: %w", err)
	}
	alias := sshkey.Alias(id)
	err = g.KnownHosts.Callback(alias)(alias, nil, key)
	if !errors.Is(err, sshkey.ErrHostKeyMismatch) {
		return err
	}
	if err := g.KnownHosts.Forget(alias); err != nil {
		return err
	}
	return g.KnownHosts.Callback(alias)(alias, nil, key)
}

// seedHostKey makes VM id's SSH host key, writes it into the work disk
// seed dir (guestssh.WorkHostKeyPath, relative to /root) and pins it.
func (g *Guest) seedHostKey(seed, id string) error {
	key, line, err := sshkey.NewKey("root@" + sshkey.Alias(id))
	if err != nil {
		return err
	}
	rel, _ := strings.CutPrefix(guestssh.WorkHostKeyPath, agent.WorkMountPoint+"/")
	dst := filepath.Join(seed, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("seed the host key: %w", err)
	}
	if err := os.WriteFile(dst, key, 0o600); err != nil {
		return fmt.Errorf("seed the host key: %w", err)
	}
	return g.pin(id, line)
}

// closeLink closes the run's agent connection, if it has one. For a run
// not yet in the registry (a start that fails after readiness).
func (rt *runtime) closeLink() {
	if rt.ssh != nil {
		rt.ssh.close()
	}
}

// authKeyArg is the kernel command line argument that authorizes the
// daemon's key with the agent's SSH server from the first instant, before
// (or without) the work disk holding /root/.ssh/authorized_keys. Empty
// when the key cannot be read (readiness will report that).
func (g *Guest) authKeyArg() string {
	signer, _, err := sshkey.Ensure(g.KeyPath)
	if err != nil {
		return ""
	}
	return " banger.authkey=" + base64.StdEncoding.EncodeToString(signer.PublicKey().Marshal())
}

// waitWorkDisk waits until the work disk is mounted at /root: an agent
// started early under systemd answers before that mount (which is
// nofail), and file sync, git and workspaces write under /root.
func (g *Guest) waitWorkDisk(ctx context.Context, c *ssh.Client, exited <-chan struct{}) error {
	timeout := g.bootTimeout()
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := poll.Until(actx, pollEvery/5, exited, func(ctx context.Context) (bool, error) {
		return run(ctx, c, nil, "grep", "-qs", " "+agent.WorkMountPoint+" ", "/proc/mounts") == nil, nil
	})
	switch {
	case errors.Is(err, poll.ErrExited):
		return errExitedDuringBoot
	case err != nil && ctx.Err() == nil:
		return fmt.Errorf("the work disk was not mounted at /root within %s", timeout)
	}
	return err
}
