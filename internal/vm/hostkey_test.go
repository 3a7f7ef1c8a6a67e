package vm_test

import (
	"net"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"

	"banger/internal/sshkey"
	"banger/internal/vm"
	"banger/internal/vm/vmtest"
)

// TestHostKeyMadeAndPinnedBeforeBoot: create writes the VM's own SSH host
// key onto its work disk and pins it, before the VM ever boots; another
// VM gets another key.
func TestHostKeyMadeAndPinnedBeforeBoot(t *testing.T) {
	e := vmtest.New(t)
	var pubs []ssh.PublicKey
	for _, name := range []string{"one", "two"} {
		v := create(t, e, vm.CreateRequest{Name: name, NoStart: true})
		b, ok := e.Disks.SeedHostKeys[filepath.Join(e.VMDir(v.ID), "work.ext4")]
		if !ok {
			t.Fatalf("%s: no host key on the work disk", name)
		}
		signer, err := ssh.ParsePrivateKey(b)
		if err != nil || signer.PublicKey().Type() != ssh.KeyAlgoED25519 {
			t.Fatalf("%s: host key does not parse as ed25519: %v", name, err)
		}
		cb := e.Service.Guest.KnownHosts.Callback(sshkey.Alias(v.ID))
		if err := cb("x:22", &net.TCPAddr{}, signer.PublicKey()); err != nil {
			t.Errorf("%s: the seeded key is not the pinned one: %v", name, err)
		}
		other, _, _ := sshkey.Ensure(filepath.Join(t.TempDir(), "k"))
		if err := cb("x:22", &net.TCPAddr{}, other.PublicKey()); err == nil {
			t.Errorf("%s: another key was accepted too", name)
		}
		pubs = append(pubs, signer.PublicKey())
	}
	if string(pubs[0].Marshal()) == string(pubs[1].Marshal()) {
		t.Error("two VMs got the same host key")
	}
}

// TestGitIdentitySeeded: the host user's git identity is written onto the
// new VM's work disk, so the guest needs no command run for it.
func TestGitIdentitySeeded(t *testing.T) {
	e := vmtest.New(t)
	v := create(t, e, vm.CreateRequest{Name: "dev", GitName: "Dev Eloper", GitEmail: "dev@example.com", NoStart: true})
	got := e.Disks.SeedGitConfigs[filepath.Join(e.VMDir(v.ID), "work.ext4")]
	if got != "[user]\n\tname = \"Dev Eloper\"\n\temail = \"dev@example.com\"\n" {
		t.Errorf("seeded .gitconfig %q", got)
	}
	plain := create(t, e, vm.CreateRequest{Name: "plain", NoStart: true})
	if got, ok := e.Disks.SeedGitConfigs[filepath.Join(e.VMDir(plain.ID), "work.ext4")]; ok {
		t.Errorf("a VM without a git identity got a .gitconfig: %q", got)
	}
}
