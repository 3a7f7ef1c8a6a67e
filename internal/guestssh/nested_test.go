package guestssh

import (
	"errors"
	"net"
	"strconv"
	"testing"

	"golang.org/x/crypto/ssh"
)

// TestNestedConnections checks that a direct-tcpip channel to the agent's
// own name carries a whole SSH connection of its own, served in process:
// two at once over one outer connection, each with its own exit status.
func TestNestedConnections(t *testing.T) {
	key, hostKey, outer := outerConn(t)
	addr := net.JoinHostPort(NestedHost, strconv.Itoa(NestedPort))
	var inner [2]*ssh.Client
	for i := range inner {
		conn, err := outer.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("open nested channel: %v", err)
		}
		sc, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
			User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(key)}, HostKeyCallback: ssh.FixedHostKey(hostKey)})
		if err != nil {
			t.Fatalf("nested handshake: %v", err)
		}
		inner[i] = ssh.NewClient(sc, chans, reqs)
		defer inner[i].Close()
	}
	for i, c := range inner {
		sess, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		out, err := sess.Output("echo nested; exit " + strconv.Itoa(3+i))
		var ee *ssh.ExitError
		if !errors.As(err, &ee) || ee.ExitStatus() != 3+i || string(out) != "nested\n" {
			t.Errorf("connection %d: out %q err %v, want \"nested\\n\" and exit %d", i, out, err, 3+i)
		}
	}
}

// TestNestedNeedsTheKey checks that a nested connection authenticates on
// its own: the outer connection's key does not let another one in.
func TestNestedNeedsTheKey(t *testing.T) {
	_, hostKey, outer := outerConn(t)
	conn, err := outer.Dial("tcp", net.JoinHostPort(NestedHost, strconv.Itoa(NestedPort)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _, _, err = ssh.NewClientConn(conn, "x", &ssh.ClientConfig{
		User: "root", Auth: []ssh.AuthMethod{ssh.PublicKeys(newSigner(t))}, HostKeyCallback: ssh.FixedHostKey(hostKey)})
	if err == nil {
		t.Fatal("a nested connection with an unknown key was let in")
	}
}

// outerConn connects to a fresh server with a new key, for the test's life.
func outerConn(t *testing.T) (ssh.Signer, ssh.PublicKey, *ssh.Client) {
	t.Helper()
	key := newSigner(t)
	sock, hostKey := serve(t, key.PublicKey())
	outer, err := dial(sock, hostKey, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { outer.Close() })
	return key, hostKey, outer
}
