package qemu

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVersionCacheAsksOncePerBinaryFile: the version is asked once, and
// again only when the binary is replaced.
func TestVersionCacheAsksOncePerBinaryFile(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	bin := filepath.Join(dir, "fake-qemu")
	write := func(version string) {
		script := "#!/bin/sh\necho x >> " + count + "\necho '" + version + "'\n"
		tmp := bin + ".new"
		if err := os.WriteFile(tmp, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, bin); err != nil { // as a package upgrade does
			t.Fatal(err)
		}
	}
	calls := func() int {
		b, _ := os.ReadFile(count)
		return strings.Count(string(b), "x")
	}
	write("QEMU emulator version 7.2.0")
	var c versionCache
	for range 3 {
		out, err := c.get(context.Background(), bin)
		if err != nil || !strings.Contains(out, "7.2.0") {
			t.Fatalf("get = %q, %v", out, err)
		}
	}
	if n := calls(); n != 1 {
		t.Fatalf("asked %d times, want 1", n)
	}
	write("QEMU emulator version 8.0.0")
	if out, _ := c.get(context.Background(), bin); !strings.Contains(out, "8.0.0") || calls() != 2 {
		t.Fatalf("after an upgrade: %q, asked %d times", out, calls())
	}
}
