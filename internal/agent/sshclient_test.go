package agent

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"banger/internal/guestssh"
)

func signer(t *testing.T) ssh.Signer {
	t.Helper()
	s, err := guestssh.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSSHClientPinsHelloKey runs the daemon's side (hello, then SSH over
// the second channel) against the agent's SSH server.
func TestSSHClientPinsHelloKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hostKey, userKey := signer(t), signer(t)
	srv := &guestssh.Server{HostKey: hostKey, Shell: "/bin/sh", Home: t.TempDir(),
		AuthorizedKeys: func() ([]ssh.PublicKey, error) { return []ssh.PublicKey{userKey.PublicKey()}, nil }}
	sock := filepath.Join(t.TempDir(), "ssh.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { _ = srv.Serve(ctx, ln) }()
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostKey.PublicKey())))
	good := (&Server{SSHHostKey: line}).methods()["hello"]
	res, _ := good()
	h := res.(Hello)

	c, _ := net.Dial("unix", sock)
	cl, err := SSHClient(ctx, c, userKey, h)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	s, err := cl.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := s.Output("echo hi"); err != nil || string(out) != "hi\n" {
		t.Fatalf("echo hi = %q, %v", out, err)
	}

	other := h
	other.SSHHostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer(t).PublicKey())))
	c2, _ := net.Dial("unix", sock)
	if cl2, err := SSHClient(ctx, c2, userKey, other); err == nil {
		cl2.Close()
		t.Fatal("a host key other than the one hello reported was accepted")
	}
	if _, err := SSHClient(ctx, c2, userKey, Hello{Capabilities: []string{"hello"}}); err == nil {
		t.Fatal("SSHClient went ahead with an agent that does not offer ssh")
	}
}

// TestNestedAddressAgrees checks that the daemon dials the name the guest
// serves its nested SSH connections on.
func TestNestedAddressAgrees(t *testing.T) {
	if SSHNestedHost != guestssh.NestedHost || SSHNestedPort != guestssh.NestedPort {
		t.Errorf("agent %s:%d, guestssh %s:%d", SSHNestedHost, SSHNestedPort, guestssh.NestedHost, guestssh.NestedPort)
	}
}
