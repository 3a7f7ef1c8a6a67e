package sshkey

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestEnsureGeneratesOnceThenReuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ssh", "id_ed25519")
	s1, line1, err := Ensure(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line1, "ssh-ed25519 ") {
		t.Fatalf("authorized line %q is not ed25519", line1)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v, want 0600", st.Mode().Perm())
	}
	s2, line2, err := Ensure(path)
	if err != nil {
		t.Fatal(err)
	}
	if line1 != line2 || string(s1.PublicKey().Marshal()) != string(s2.PublicKey().Marshal()) {
		t.Fatal("second Ensure generated a different key")
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil || strings.TrimSpace(string(pub)) != line1 {
		t.Fatalf("pub file %q, want %q (err %v)", pub, line1, err)
	}
}

func TestEnsureRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "id")
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Ensure(path); err == nil || !strings.Contains(err.Error(), "parse ssh key") {
		t.Fatalf("want parse error, got %v", err)
	}
}

func newKey(t *testing.T) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKnownHostsPinsAndDetectsMismatch(t *testing.T) {
	kh := &KnownHosts{Path: filepath.Join(t.TempDir(), "known_hosts")}
	a, b := newKey(t), newKey(t)
	cbA := kh.Callback(Alias("aaa"))
	if err := cbA("10.0.0.2:22", nil, a); err != nil {
		t.Fatalf("first contact: %v", err)
	}
	if err := cbA("10.0.0.2:22", nil, a); err != nil {
		t.Fatalf("same key again: %v", err)
	}
	err := cbA("10.0.0.2:22", nil, b)
	if !errors.Is(err, ErrHostKeyMismatch) || !strings.Contains(err.Error(), "man-in-the-middle") {
		t.Fatalf("want mismatch error, got %v", err)
	}
	// Another VM on the same address pins independently.
	if err := kh.Callback(Alias("bbb"))("10.0.0.2:22", nil, b); err != nil {
		t.Fatalf("other alias: %v", err)
	}
	if err := kh.Forget(Alias("aaa")); err != nil {
		t.Fatal(err)
	}
	if err := cbA("10.0.0.2:22", nil, b); err != nil {
		t.Fatalf("after forget, new key should pin: %v", err)
	}
	data, _ := os.ReadFile(kh.Path)
	if n := strings.Count(string(data), "\n"); n != 2 {
		t.Fatalf("known_hosts has %d lines, want 2:\n%s", n, data)
	}
}

// TestEnsureRacesAgreeOnOneKey: callers making the first key at the same
// time (the daemon's services at its first start) all get one key, and
// the .pub file describes that key (ssh -i offers the .pub's key; a
// mismatch made every login fail).
func TestEnsureRacesAgreeOnOneKey(t *testing.T) {
	for round := 0; round < 20; round++ {
		path := filepath.Join(t.TempDir(), "ssh", "id_ed25519")
		lines := make([]string, 8)
		var wg sync.WaitGroup
		for i := range lines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, line, err := Ensure(path)
				if err != nil {
					t.Error(err)
				}
				lines[i] = line
			}()
		}
		wg.Wait()
		for _, l := range lines {
			if l != lines[0] {
				t.Fatalf("round %d: racing callers got different keys: %q and %q", round, lines[0], l)
			}
		}
		pub, err := os.ReadFile(path + ".pub")
		if err != nil {
			t.Fatal(err)
		}
		if string(pub) != lines[0]+"\n" {
			t.Fatalf("round %d: %s.pub is %q, but the key is %q", round, path, pub, lines[0])
		}
	}
}

func TestEnsureRepairsAStalePub(t *testing.T) {
	path := filepath.Join(t.TempDir(), "id_ed25519")
	_, line, err := Ensure(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".pub", []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIP8= other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, again, err := Ensure(path); err != nil || again != line {
		t.Fatalf("Ensure = %q, %v; want the same key", again, err)
	}
	if pub, _ := os.ReadFile(path + ".pub"); string(pub) != line+"\n" {
		t.Errorf(".pub after Ensure: %q, want %q", pub, line)
	}
}
