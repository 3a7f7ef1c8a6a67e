package guestinit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
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
