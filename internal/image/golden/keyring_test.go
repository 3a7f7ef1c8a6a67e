package golden

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestDebootstrapChecksSignatures: debootstrap is told to check the
// archive's signatures against Debian's keyring, and to fail without them;
// the default mirror is HTTPS.
func TestDebootstrapChecksSignatures(t *testing.T) {
	spec := validSpec(t)
	fc := &fakeCommands{t: t}
	if _, err := (&Builder{Run: fc.run}).Build(context.Background(), spec, nil); err != nil {
		t.Fatalf("Build: %v", err)
	}
	deb := fc.calls[0]
	if deb[0] != "debootstrap" {
		t.Fatalf("first command %q, want debootstrap", deb)
	}
	for _, want := range []string{"--force-check-gpg", "--keyring=" + spec.Keyring} {
		if !slices.Contains(deb, want) {
			t.Errorf("debootstrap %q lacks %s", deb, want)
		}
	}
	if got := deb[len(deb)-1]; got != "https://deb.debian.org/debian" {
		t.Errorf("debootstrap mirror %q, want the HTTPS default", got)
	}
	if got := withDefaults(Spec{}).Keyring; got != "/usr/share/keyrings/debian-archive-keyring.gpg" {
		t.Errorf("default keyring %q", got)
	}
}

// TestMissingKeyringRefused: without the keyring, the build is refused
// with a message that says what to install, before any command runs.
func TestMissingKeyringRefused(t *testing.T) {
	for name, mod := range map[string]func(*Spec){
		"missing":  func(s *Spec) { s.Keyring = filepath.Join(t.TempDir(), "debian-archive-keyring.gpg") },
		"relative": func(s *Spec) { s.Keyring = "debian-archive-keyring.gpg" },
		"dir":      func(s *Spec) { s.Keyring = t.TempDir() },
		"empty file": func(s *Spec) {
			s.Keyring = filepath.Join(t.TempDir(), "k.gpg")
			os.WriteFile(s.Keyring, nil, 0o644)
		},
	} {
		t.Run(name, func(t *testing.T) {
			spec := validSpec(t)
			mod(&spec)
			fc := &fakeCommands{t: t}
			_, err := (&Builder{Run: fc.run}).Build(context.Background(), spec, nil)
			if err == nil || !strings.Contains(err.Error(), "keyring") {
				t.Fatalf("Build = %v, want a keyring error", err)
			}
			if name == "missing" && !strings.Contains(err.Error(), "install the package debian-archive-keyring") {
				t.Errorf("error %q does not say what to install", err)
			}
			if len(fc.calls) != 0 {
				t.Errorf("ran %q without a keyring", fc.calls)
			}
		})
	}
}
