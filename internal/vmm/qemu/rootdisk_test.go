package qemu

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// backing8M is an 8 MiB backing file in dir; it skips the test without
// qemu-img.
func backing8M(t *testing.T, dir string) string {
	t.Helper()
	if _, err := exec.LookPath("qemu-img"); err != nil {
		t.Skipf("qemu-img not installed (run `make deps`): %v", err)
	}
	backing := filepath.Join(dir, "rootfs.ext4")
	if err := os.WriteFile(backing, make([]byte, 8<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	return backing
}

func TestOverlayDoesNotCopyBacking(t *testing.T) {
	dir := t.TempDir()
	backing := backing8M(t, dir)
	ov := filepath.Join(dir, "root.qcow2")
	if err := OverlaySized(context.Background(), "", backing, "raw", ov, 0); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(ov)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() >= 8<<20 {
		t.Fatalf("overlay is %d bytes: the image was copied", st.Size())
	}
	out, err := exec.Command("qemu-img", "info", ov).CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "backing file: "+backing) {
		t.Fatalf("overlay has no backing file %s:\n%s", backing, out)
	}
}

func TestOverlayMissingBacking(t *testing.T) {
	ov := filepath.Join(t.TempDir(), "root.qcow2")
	if err := OverlaySized(context.Background(), "", "/nonexistent/rootfs.ext4", "raw", ov, 0); err == nil {
		t.Fatal("want an error for a missing backing file")
	}
	if _, err := os.Stat(ov); !os.IsNotExist(err) {
		t.Fatal("a failed overlay left a file behind")
	}
}

func TestOverlaySizedGrowsNeverShrinks(t *testing.T) {
	dir := t.TempDir()
	backing := backing8M(t, dir)
	for _, c := range []struct {
		name       string
		size, want int64
	}{
		{"grown", 64 << 20, 64 << 20},
		{"no size", 0, 8 << 20},
		{"smaller than the image", 4 << 20, 8 << 20},
	} {
		ov := filepath.Join(dir, c.name+".qcow2")
		if err := OverlaySized(context.Background(), "", backing, "raw", ov, c.size); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("qemu-img", "info", ov).CombinedOutput()
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("(%d bytes)", c.want); !strings.Contains(string(out), want) {
			t.Errorf("%s: overlay of %d bytes asked: want virtual size %s:\n%s", c.name, c.size, want, out)
		}
		if st, err := os.Stat(ov); err != nil || st.Size() >= 8<<20 {
			t.Errorf("%s: the overlay allocates its size: %v %v", c.name, st.Size(), err)
		}
	}
}
