package daemon

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"banger/internal/api"
	"banger/internal/sshkey"
)

// streamConn is the connect stream as the net.Conn ssh wants.
type streamConn struct{ io.ReadWriteCloser }

func (streamConn) LocalAddr() net.Addr              { return &net.UnixAddr{Name: "cli", Net: "unix"} }
func (streamConn) RemoteAddr() net.Addr             { return &net.UnixAddr{Name: "guest", Net: "unix"} }
func (streamConn) SetDeadline(time.Time) error      { return nil }
func (streamConn) SetReadDeadline(time.Time) error  { return nil }
func (streamConn) SetWriteDeadline(time.Time) error { return nil }

// sshOverConnect opens a connect stream to name and logs in over it as the
// system ssh client would: the daemon's key, the pinned host key.
func sshOverConnect(t *testing.T, d *testDaemon, name string) *ssh.Client {
	t.Helper()
	ctx := context.Background()
	tgt, err := d.client.SSHTarget(ctx, name)
	if err != nil || tgt.Via != api.ViaAgent {
		t.Fatalf("SSHTarget = %+v, %v; want via agent", tgt, err)
	}
	stream, err := d.client.Connect(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	signer, _, err := sshkey.Ensure(tgt.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	kh := &sshkey.KnownHosts{Path: tgt.KnownHosts}
	sc, chans, reqs, err := ssh.NewClientConn(streamConn{stream}, name, &ssh.ClientConfig{User: "root",
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: kh.Callback(tgt.HostKeyAlias)})
	if err != nil {
		t.Fatalf("ssh over the connect stream: %v", err)
	}
	c := ssh.NewClient(sc, chans, reqs)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestConnectOverTheAgent boots a VM whose fake agent serves SSH and runs
// commands through two connect streams at once: each is an SSH connection
// of its own, with exit codes and stdout and stderr kept apart.
func TestConnectOverTheAgent(t *testing.T) {
	d := newTestDaemon(t)
	d.env.UseAgentGuest(t)
	d.create(t, api.CreateVM{Name: "dev"})
	clients := []*ssh.Client{sshOverConnect(t, d, "dev"), sshOverConnect(t, d, "dev")}
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Go(func() {
			sess, err := c.NewSession()
			if err != nil {
				t.Error(err)
				return
			}
			var stdout, stderr strings.Builder
			sess.Stdout, sess.Stderr = &stdout, &stderr
			err = sess.Run("echo out; echo err >&2; exit " + strconv.Itoa(3+i))
			var ee *ssh.ExitError
			if !errors.As(err, &ee) || ee.ExitStatus() != 3+i || stdout.String() != "out\n" || stderr.String() != "err\n" {
				t.Errorf("connection %d: %v, stdout %q, stderr %q", i, err, stdout.String(), stderr.String())
			}
		})
	}
	wg.Wait()
}

// TestConnectRefusals checks that connect needs the upgrade and a VM
// reached over its agent.
func TestConnectRefusals(t *testing.T) {
	d := newTestDaemon(t)
	d.create(t, api.CreateVM{Name: "old"})
	_, err := d.client.Connect(context.Background(), "old")
	if e := apiErr(t, err); e.Kind != api.KindBadRequest || !strings.Contains(e.Message, "not reached over its agent") {
		t.Errorf("connect to a VM without agent SSH: %+v", e)
	}
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var dl net.Dialer
		return dl.DialContext(ctx, "unix", d.socket)
	}}}
	resp, err := hc.Get("http://bangerd" + api.Endpoints.Connect.URL("old"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("connect without Upgrade: %s, want 400", resp.Status)
	}
}
