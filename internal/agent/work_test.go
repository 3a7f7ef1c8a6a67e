package agent

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWorkMounted(t *testing.T) {
	dir := t.TempDir()
	mounts := filepath.Join(dir, "mounts")
	os.WriteFile(mounts, []byte("/dev/vda / ext4 rw 0 0\nproc /proc proc rw 0 0\n/dev/vdb /rootfs ext4 rw 0 0\n"), 0o644)
	if workMounted(dir) {
		t.Error("no /root mount, but workMounted says there is")
	}
	os.WriteFile(mounts, []byte("/dev/vda / ext4 rw 0 0\n/dev/vdb /root ext4 rw 0 0\n"), 0o644)
	if !workMounted(dir) {
		t.Error("/root is mounted, but workMounted says not")
	}
	if workMounted(filepath.Join(dir, "missing")) {
		t.Error("no mounts file, but workMounted says mounted")
	}
}
