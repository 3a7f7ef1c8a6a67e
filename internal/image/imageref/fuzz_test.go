package imageref

import (
	"path/filepath"
	"testing"
)

// FuzzDeriveName: whatever the reference, the derived name is valid.
func FuzzDeriveName(f *testing.F) {
	f.Add("docker.io/library/alpine:3.19")
	f.Fuzz(func(t *testing.T, ref string) {
		if n := DeriveName(ref); !ValidName(n) {
			t.Fatalf("DeriveName(%q) = %q, which is not a valid name", ref, n)
		}
	})
}

// FuzzValidName: a valid name is one safe path component (image and
// kernel names become directory names under the state dir).
func FuzzValidName(f *testing.F) {
	f.Add("debian-12")
	f.Fuzz(func(t *testing.T, name string) {
		if !ValidName(name) {
			return
		}
		if len(name) > 63 || filepath.Base(name) != name || name == "." || name == ".." || filepath.Clean(name) != name {
			t.Fatalf("ValidName(%q) = true, but it is no single clean path component of at most 63 bytes", name)
		}
	})
}
