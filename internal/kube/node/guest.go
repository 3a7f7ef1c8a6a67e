package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"banger/internal/api"
	"banger/internal/limit"
	"banger/internal/shquote"
	"banger/internal/sshdial"
	"banger/internal/sshkey"
)

// maxScriptOutput bounds what one guest script may print.
const maxScriptOutput = 64 << 10

// dialGuest opens an SSH connection to the running VM name as its daemon
// would: over the daemon's stream to the VM's agent (or over the network
// when the guest runs its own sshd), with the daemon's key, checking the
// host key the daemon pinned for the VM.
func dialGuest(ctx context.Context, d Daemon, name string) (*ssh.Client, error) {
	t, err := d.SSHTarget(ctx, name)
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(t.KeyPath)
	if err != nil {
		return nil, fmt.Errorf("read the daemon's ssh key (run banger-node as root on the daemon's host): %w", err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("parse ssh key %s: %w", t.KeyPath, err)
	}
	hosts := &sshkey.KnownHosts{Path: t.KnownHosts}
	cfg := &ssh.ClientConfig{
		User:              t.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   hosts.Callback(t.HostKeyAlias),
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
	}
	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if t.Via != api.ViaAgent {
		return sshdial.Dial(hctx, net.JoinHostPort(t.Host, fmt.Sprint(t.Port)), cfg, 30*time.Second)
	}
	stream, err := d.Connect(hctx, name)
	if err != nil {
		return nil, err
	}
	return sshdial.Client(hctx, newStreamConn(stream), t.HostKeyAlias, cfg)
}

// runScript runs `sh -c script banger-sandbox args...` in the guest with
// stdin (may be nil) and returns its output (at most maxScriptOutput bytes)
// and exit code. It gives up, closing the session, when ctx ends.
func runScript(ctx context.Context, c *ssh.Client, script string, stdin io.Reader, args ...string) (string, int, error) {
	sess, err := c.NewSession()
	if err != nil {
		return "", 0, fmt.Errorf("open an ssh session: %w", err)
	}
	defer sess.Close()
	out := limit.NewBuffer(maxScriptOutput, "a guest script's output", nil)
	sess.Stdout, sess.Stderr, sess.Stdin = out, out, stdin
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()
	err = sess.Run(shquote.Join(append([]string{"sh", "-c", script, "banger-sandbox"}, args...)...))
	if ctx.Err() != nil {
		return "", 0, context.Cause(ctx)
	}
	var ee *ssh.ExitError
	if errors.As(err, &ee) {
		return string(out.Bytes()), ee.ExitStatus(), nil
	}
	if err != nil {
		return "", 0, fmt.Errorf("run a script in the guest: %w", err)
	}
	return string(out.Bytes()), 0, nil
}

// streamConn is a net.Conn over the daemon's byte stream to a guest. The
// stream has no deadlines of its own: a deadline that passes closes it,
// which is what sshdial needs of one (a handshake that overruns fails).
type streamConn struct {
	io.ReadWriteCloser
	mu    sync.Mutex
	timer *time.Timer
}

func newStreamConn(rwc io.ReadWriteCloser) *streamConn { return &streamConn{ReadWriteCloser: rwc} }

func (c *streamConn) LocalAddr() net.Addr  { return streamAddr{} }
func (c *streamConn) RemoteAddr() net.Addr { return streamAddr{} }

func (c *streamConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	if t.IsZero() {
		return nil
	}
	c.timer = time.AfterFunc(time.Until(t), func() { c.Close() })
	return nil
}

func (c *streamConn) SetReadDeadline(t time.Time) error  { return c.SetDeadline(t) }
func (c *streamConn) SetWriteDeadline(t time.Time) error { return c.SetDeadline(t) }

type streamAddr struct{}

func (streamAddr) Network() string { return "banger" }
func (streamAddr) String() string  { return "bangerd-connect" }
