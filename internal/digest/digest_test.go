package digest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFileAndReuse(t *testing.T) {
	p := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(p, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	const hello = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
	if got, err := File(p); err != nil || got != hello {
		t.Fatalf("File = %s, %v", got, err)
	}
	if ok, err := Reuse(p, hello); !ok || err != nil {
		t.Fatalf("matching file not reused: %v %v", ok, err)
	}
	if ok, err := Reuse(p, "00"); ok || err != nil {
		t.Fatalf("mismatching file reused: %v %v", ok, err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatal("a corrupt cached file was kept")
	}
	if ok, err := Reuse(p, hello); ok || err != nil {
		t.Fatalf("missing file: %v %v", ok, err)
	}
}
