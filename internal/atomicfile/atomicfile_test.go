package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteReplacesWholeAndLeavesNoTemp(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := Write(p, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(p, map[string]int{"a": 1}, 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "{\n  \"a\": 1\n}\n" || st.Mode().Perm() != 0o644 {
		t.Fatalf("content %q mode %v", b, st.Mode().Perm())
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	if err := Write(filepath.Join(dir, "missing", "f"), nil, 0o600); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}

func TestWriteCheckedCommitsOnlyWhatPasses(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "blob")
	const helloSHA = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	err := WriteChecked(p, strings.NewReader("hello"), func(n int64, sum string) error {
		if n != 5 || sum != helloSHA {
			t.Errorf("check saw n=%d sum=%s", n, sum)
		}
		return errors.New("refused")
	})
	if err == nil || err.Error() != "refused" {
		t.Fatalf("want the check's error, got %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a refused write left %v", entries)
	}
	if err := WriteChecked(p, strings.NewReader("hello"), func(int64, string) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "hello" {
		t.Fatalf("content %q", b)
	}
}
