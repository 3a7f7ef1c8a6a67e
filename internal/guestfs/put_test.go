package guestfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPut(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "a", "b", "secret")
	if err := Put(strings.NewReader("one"), name, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Put(strings.NewReader("two"), name, 0o640); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(name)
	if err != nil || string(b) != "two" {
		t.Fatalf("content %q, %v", b, err)
	}
	st, _ := os.Stat(name)
	if st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v", st.Mode())
	}
	// A failed copy leaves the old file and no temporary.
	if err := Put(io.MultiReader(strings.NewReader("partial"), failing{}), name, 0o600); err == nil {
		t.Fatal("want the read error")
	}
	if b, _ := os.ReadFile(name); string(b) != "two" {
		t.Fatalf("a failed put changed the file: %q", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(name))
	if len(entries) != 1 {
		t.Fatalf("left behind: %v", entries)
	}
	for _, bad := range []string{"relative/x", "/a/../b", ""} {
		if err := Put(strings.NewReader(""), bad, 0o600); err == nil {
			t.Errorf("Put(%q) succeeded", bad)
		}
	}
}

type failing struct{}

func (failing) Read([]byte) (int, error) { return 0, errors.New("connection lost") }
