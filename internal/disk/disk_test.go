package disk

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (run `make deps`): %v", tool, err)
		}
	}
}

func TestWorkDiskHoldsSeed(t *testing.T) {
	need(t, "mkfs.ext4", "debugfs")
	dir := t.TempDir()
	seed := filepath.Join(dir, "seed")
	if err := os.Mkdir(seed, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Seed(seed, "ssh-ed25519 AAAA test"); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "work.ext4")
	m := &Maker{}
	if err := m.WorkDisk(context.Background(), img, 1<<30, seed, "banger-work"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("debugfs", "-R", "cat /.ssh/authorized_keys", img).Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(out)) != "ssh-ed25519 AAAA test" {
		t.Fatalf("authorized_keys on disk: %q", out)
	}
	out, err = exec.Command("debugfs", "-R", "stat /.ssh/authorized_keys", img).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "Mode:  0600") || !strings.Contains(string(out), "User:     0") {
		t.Fatalf("authorized_keys mode/owner wrong:\n%s", out)
	}
	st, _ := os.Stat(img)
	if st.Size() != 1<<30 {
		t.Fatalf("size %d, want 1GiB", st.Size())
	}
}

func TestWorkDiskRejectsTinyAndCleansUp(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "w.ext4")
	m := &Maker{}
	if err := m.WorkDisk(context.Background(), img, 1<<20, "", "x"); err == nil {
		t.Fatal("want error for a 1M disk")
	}
	failing := &Maker{MkfsExt4: "/nonexistent/mkfs"}
	if err := failing.WorkDisk(context.Background(), img, 64<<20, "", "x"); err == nil {
		t.Fatal("want error from a missing mkfs")
	}
	if _, err := os.Stat(img); !os.IsNotExist(err) {
		t.Fatal("failed WorkDisk left the file behind")
	}
}
