package guestssh

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestHostKey(t *testing.T) {
	dir := t.TempDir()
	gen, err := HostKey(filepath.Join(dir, "missing"))
	if err != nil {
		t.Fatal(err)
	}
	if gen.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Errorf("generated host key is %s, want ed25519", gen.PublicKey().Type())
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); err == nil {
		t.Error("a generated host key was written to disk")
	}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ssh_host_ed25519_key")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := HostKey(path)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := ssh.NewSignerFromKey(priv)
	if string(got.PublicKey().Marshal()) != string(want.PublicKey().Marshal()) {
		t.Error("HostKey did not load the key written by the host")
	}
	if got, err := HostKey(filepath.Join(dir, "missing"), path); err != nil || string(got.PublicKey().Marshal()) != string(want.PublicKey().Marshal()) {
		t.Errorf("HostKey(missing, key) did not load the key: %v", err)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := HostKey(path); err == nil {
		t.Error("a corrupt host key file was accepted")
	}
}

func TestAuthorizedKeysAndCmdline(t *testing.T) {
	a, b, c := newSigner(t).PublicKey(), newSigner(t).PublicKey(), newSigner(t).PublicKey()
	dir := t.TempDir()
	file := filepath.Join(dir, "authorized_keys")
	content := "# comment\n" + string(ssh.MarshalAuthorizedKey(a)) + "not a key\n" + string(ssh.MarshalAuthorizedKey(b))
	if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cmdline := "console=ttyS0 " + CmdlineKeyParam + "=" + base64.StdEncoding.EncodeToString(c.Marshal()) + " quiet"
	extra, err := CmdlineKeys(cmdline)
	if err != nil || len(extra) != 1 {
		t.Fatalf("CmdlineKeys = %v, %v", extra, err)
	}
	keys, err := AuthorizedKeys([]string{filepath.Join(dir, "none"), file}, extra...)()
	if err != nil {
		t.Fatal(err)
	}
	want := []ssh.PublicKey{c, a, b}
	if len(keys) != len(want) {
		t.Fatalf("got %d keys, want %d", len(keys), len(want))
	}
	for i := range want {
		if string(keys[i].Marshal()) != string(want[i].Marshal()) {
			t.Errorf("key %d differs", i)
		}
	}
	if _, err := CmdlineKeys(CmdlineKeyParam + "=!!!"); err == nil {
		t.Error("a malformed banger.authkey= was accepted")
	}
}
