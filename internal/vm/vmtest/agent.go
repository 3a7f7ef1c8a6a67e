package vmtest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"banger/internal/agent"
	"banger/internal/guestssh"
	"banger/internal/sshkey"
	"banger/internal/vmm"
)

// AgentVMM is the fake backend with a guest agent that serves SSH: the
// JSON agent and guestssh run in the test process, each on a unix socket,
// and every VM of the backend reaches the same ones. Commands run on the
// test host with /bin/sh, in a temp dir as HOME.
type AgentVMM struct {
	*VMM
	agentSock, sshSock string
}

var (
	_ vmm.AgentDialer = (*AgentVMM)(nil)
	_ vmm.SSHDialer   = (*AgentVMM)(nil)
)

// DialAgent implements vmm.AgentDialer.
func (a *AgentVMM) DialAgent(ctx context.Context, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", a.agentSock)
}

// DialSSH implements vmm.SSHDialer.
func (a *AgentVMM) DialSSH(ctx context.Context, _, _ string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", a.sshSock)
}

// UseAgentGuest makes the Env's VMs boot with a guest agent that serves
// SSH (the real agent and guestssh servers), and readiness the service's
// own: a started VM is then reached over its agent (Service.Connect).
// The guest's shell answers that the work disk is mounted.
func (e *Env) UseAgentGuest(t *testing.T) {
	t.Helper()
	signer, _, err := sshkey.Ensure(e.Service.Guest.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	hostKey, err := guestssh.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	shell := filepath.Join(dir, "shell")
	script := "#!/bin/sh\ncase \"$2\" in \"grep -qs ' /root ' /proc/mounts\") exit 0;; esac\nexec /bin/sh \"$@\"\n"
	if err := os.WriteFile(shell, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	a := &AgentVMM{VMM: e.VMM, agentSock: filepath.Join(dir, "agent.sock"), sshSock: filepath.Join(dir, "ssh.sock")}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	srv := &agent.Server{Version: "test", SSHHostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostKey.PublicKey())))}
	serveEach(ctx, t, a.agentSock, func(c net.Conn) { _ = srv.ServeConn(ctx, c) })
	sshSrv := &guestssh.Server{HostKey: hostKey, Shell: shell, Home: dir,
		AuthorizedKeys: func() ([]ssh.PublicKey, error) { return []ssh.PublicKey{signer.PublicKey()}, nil }}
	ln, err := net.Listen("unix", a.sshSock)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = sshSrv.Serve(ctx, ln) }()
	e.Service.Backends[Backend] = a
	e.Service.Ready = nil
}

// serveEach runs serve on a goroutine for every connection to path.
func serveEach(ctx context.Context, t *testing.T, path string, serve func(net.Conn)) {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	context.AfterFunc(ctx, func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
}
