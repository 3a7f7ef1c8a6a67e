package guestinit

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"banger/internal/guestssh"
)

func TestRekeySSHD(t *testing.T) {
	root := t.TempDir()
	if line, err := RekeySSHD(root); err != nil || line != "" {
		t.Fatalf("without sshd: %q, %v", line, err)
	}
	dir := filepath.Join(root, SSHDir)
	for _, f := range []string{"sshd_config", "ssh_host_rsa_key", "ssh_host_rsa_key.pub", "ssh_host_ed25519_key", "moduli"} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), []byte("template's "+f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a, err := RekeySSHD(root)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := RekeySSHD(root)
	if a == b || !strings.HasPrefix(a, "ssh-ed25519 ") {
		t.Fatalf("keys %q and %q", a, b)
	}
	priv, err := os.ReadFile(filepath.Join(dir, "ssh_host_ed25519_key"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(priv)
	if err != nil {
		t.Fatalf("new private key does not parse: %v", err)
	}
	if got := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))); !strings.HasPrefix(b, got) {
		t.Errorf("private key is %q, the reported one %q", got, b)
	}
	for _, gone := range []string{"ssh_host_rsa_key", "ssh_host_rsa_key.pub"} {
		if _, err := os.Stat(filepath.Join(dir, gone)); !os.IsNotExist(err) {
			t.Errorf("the template's %s is still there", gone)
		}
	}
	for _, kept := range []string{"sshd_config", "moduli"} {
		if _, err := os.Stat(filepath.Join(dir, kept)); err != nil {
			t.Errorf("%s removed: %v", kept, err)
		}
	}
}

func TestParentPID(t *testing.T) {
	p := filepath.Join(t.TempDir(), "stat")
	os.WriteFile(p, []byte("123 (ss hd) S 1 123 123 0 -1"), 0o600)
	if got := parentPID(p); got != 1 {
		t.Fatalf("parentPID = %d, want 1", got)
	}
}

// TestRekeySSHDTakesTheHostsKey: with the key the host wrote on the work
// disk, sshd gets that key, not one made in the guest.
func TestRekeySSHDTakesTheHostsKey(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, SSHDir), 0o755)
	os.WriteFile(filepath.Join(root, SSHDir, "sshd_config"), nil, 0o644)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(root, guestssh.WorkHostKeyPath)
	os.MkdirAll(filepath.Dir(work), 0o700)
	if err := os.WriteFile(work, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	line, err := RekeySSHD(root)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ssh.NewSignerFromKey(priv)
	got, _, _, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil || string(got.Marshal()) != string(want.PublicKey().Marshal()) {
		t.Fatalf("sshd's key %q is not the host's (%v)", line, err)
	}
	if again, _ := RekeySSHD(root); again != line {
		t.Errorf("a second rekey gave %q, want the host's key again", again)
	}
}
