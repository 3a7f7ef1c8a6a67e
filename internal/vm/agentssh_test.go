package vm

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"banger/internal/agent"
	"banger/internal/guestssh"
	"banger/internal/shquote"
	"banger/internal/sshkey"
	"banger/internal/vmm"
)

// fakeGuest is a backend whose agent channels are served in the test
// process: the JSON agent and the agent's SSH server, over a pipe per
// connection, as a virtio-serial or vsock channel would carry them.
type fakeGuest struct {
	vmm.VMM // not called
	agent   *agent.Server
	ssh     *guestssh.Server

	mu       sync.Mutex
	sshDials int
	last     net.Conn // the guest end of the latest SSH connection
}

// socketPair returns the two ends of a unix stream socket pair: buffered
// like a real channel (SSH's two sides write their version lines at once,
// which net.Pipe would deadlock on).
func socketPair() (net.Conn, net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		conns[i], err = net.FileConn(f)
		f.Close()
		if err != nil {
			return nil, nil, err
		}
	}
	return conns[0], conns[1], nil
}

func (f *fakeGuest) DialAgent(ctx context.Context, _ string) (net.Conn, error) {
	host, guest, err := socketPair()
	if err != nil {
		return nil, err
	}
	go func() { _ = f.agent.ServeConn(ctx, guest); guest.Close() }()
	return host, nil
}

func (f *fakeGuest) DialSSH(_ context.Context, _, sshSocket string) (net.Conn, error) {
	if sshSocket == "" {
		return nil, errors.New("no ssh socket")
	}
	host, guest, err := socketPair()
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.sshDials++
	f.last = guest
	f.mu.Unlock()
	go func() { _ = f.ssh.ServeConn(context.Background(), guest) }()
	return host, nil
}

// dropConnection ends the current SSH connection from the guest's side.
func (f *fakeGuest) dropConnection() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last.Close()
}

func (f *fakeGuest) dials() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sshDials
}

// newFakeGuest returns a Guest and a VM served by a fakeGuest. The guest's
// shell records each command it is asked to run in the returned log, says
// "ran" and swallows its stdin, so nothing touches the host's /root.
func newFakeGuest(t *testing.T) (*Guest, guestVM, *fakeGuest, string) {
	t.Helper()
	dir := t.TempDir()
	g := &Guest{KeyPath: filepath.Join(dir, "id_ed25519"), KnownHosts: &sshkey.KnownHosts{Path: filepath.Join(dir, "known_hosts")}, BootTimeout: 10 * time.Second}
	signer, _, err := sshkey.Ensure(g.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	hostKey, err := guestssh.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	cmds := filepath.Join(dir, "commands")
	shell := filepath.Join(dir, "shell")
	script := "#!/bin/sh\nprintf '%s\\n' \"$2\" >> '" + cmds + "'\necho ran\ncat > /dev/null\n"
	if err := os.WriteFile(shell, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	f := &fakeGuest{
		agent: &agent.Server{Version: "test", SSHHostKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(hostKey.PublicKey())))},
		ssh: &guestssh.Server{HostKey: hostKey, Shell: shell, Home: dir,
			AuthorizedKeys: func() ([]ssh.PublicKey, error) { return []ssh.PublicKey{signer.PublicKey()}, nil }},
	}
	v := guestVM{ID: "abc123", Name: "dev", AgentSocket: "agent.sock", SSHSocket: "ssh.sock", Backend: f}
	return g, v, f, cmds
}

// TestReadyOverTheAgent checks readiness with an agent that serves SSH:
// no network at all (the VM has no address), the host key from hello
// pinned under the VM's alias, and, once the work disk is at /root, file
// sync and git over the link.
func TestReadyOverTheAgent(t *testing.T) {
	g, v, f, cmds := newFakeGuest(t)
	src := filepath.Join(t.TempDir(), "hello.txt")
	os.WriteFile(src, []byte("hi"), 0o640)
	g.FileSync = []FileSync{{Host: src, Guest: "/root/hello.txt"}}
	link, err := g.waitReady(context.Background(), v, nil, nil, GitIdentity{Name: "Dev Eloper"})
	if err != nil {
		t.Fatal(err)
	}
	defer link.close()
	if link == nil || f.dials() != 1 {
		t.Fatalf("link %v after %d SSH dials; want a link over one", link, f.dials())
	}
	b, _ := os.ReadFile(cmds)
	want := "grep -qs ' /root ' /proc/mounts\n/usr/local/bin/banger-agent put 640 /root/hello.txt\n" +
		shquote.Join("sh", "-c", gitIdentityScript, "sh", "Dev Eloper", "", gitConfigFile(GitIdentity{Name: "Dev Eloper"})) + "\n"
	if string(b) != want {
		t.Errorf("guest commands\n%s\nwant (the work disk waited for first)\n%s", b, want)
	}
	kh, _ := os.ReadFile(g.KnownHosts.Path)
	if !strings.HasPrefix(string(kh), "banger-abc123 "+f.agent.SSHHostKey) {
		t.Errorf("known_hosts = %q, want the agent's key under banger-abc123", kh)
	}
}

// TestReadyWithoutAgentSSH checks that a VM without the SSH channel takes
// the sshd path (which fails here on its missing address) and no link.
func TestReadyWithoutAgentSSH(t *testing.T) {
	g, v, f, _ := newFakeGuest(t)
	v.SSHSocket = ""
	g.BootTimeout = time.Second
	if link, err := g.waitReady(context.Background(), v, nil, nil, GitIdentity{}); link != nil || err == nil || !strings.Contains(err.Error(), "guest address") {
		t.Fatalf("waitReady = %v, %v; want no link and the sshd path's error", link, err)
	}
	if f.dials() != 0 {
		t.Errorf("%d dials of a channel the run does not have", f.dials())
	}
}

// TestLinkRedialsAndNests checks that the link dials again when its
// connection drops, that a nested connection gets its own SSH session and
// authentication, and that a closed link stays closed.
func TestLinkRedialsAndNests(t *testing.T) {
	g, v, f, _ := newFakeGuest(t)
	ctx := context.Background()
	link := g.newLink(v)
	if _, err := link.get(ctx); err != nil {
		t.Fatal(err)
	}
	f.dropConnection()
	conn, err := link.dialNested(ctx)
	if err != nil {
		t.Fatalf("dialNested after a drop: %v", err)
	}
	if f.dials() != 2 {
		t.Errorf("%d SSH dials, want 2 (one redial)", f.dials())
	}
	signer, _, _ := sshkey.Ensure(g.KeyPath)
	hostKey, _, _, _, _ := ssh.ParseAuthorizedKey([]byte(f.agent.SSHHostKey))
	sc, chans, reqs, err := ssh.NewClientConn(conn, "nested", &ssh.ClientConfig{User: "root",
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: ssh.FixedHostKey(hostKey)})
	if err != nil {
		t.Fatalf("nested handshake: %v", err)
	}
	nested := ssh.NewClient(sc, chans, reqs)
	defer nested.Close()
	sess, err := nested.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := sess.Output("true"); err != nil || string(out) != "ran\n" {
		t.Errorf("nested session = %q, %v", out, err)
	}
	link.close()
	if _, err := link.get(ctx); !errors.Is(err, errLinkClosed) {
		t.Errorf("get after close = %v, want errLinkClosed", err)
	}
}

// TestPinReplacesAKeyFromAnEarlierBoot checks that the key hello reports
// replaces the one pinned for an earlier boot of the VM.
func TestPinReplacesAKeyFromAnEarlierBoot(t *testing.T) {
	g, _, _, _ := newFakeGuest(t)
	var lines []string
	for range 2 {
		k, _ := guestssh.GenerateKey()
		lines = append(lines, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k.PublicKey()))))
	}
	for _, l := range lines {
		if err := g.pin("vm1", l); err != nil {
			t.Fatal(err)
		}
	}
	kh, _ := os.ReadFile(g.KnownHosts.Path)
	if string(kh) != "banger-vm1 "+lines[1]+"\n" {
		t.Errorf("known_hosts = %q, want only the second key", kh)
	}
}
