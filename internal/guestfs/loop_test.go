package guestfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestGrowLoopMounted grows a real ext4 file system, mounted from a loop
// device whose file was made larger, as the agent grows / in a guest.
func TestGrowLoopMounted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a loop device")
	}
	for _, tool := range []string{"mkfs.ext4", "losetup"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skipf("no loop devices: %v", err)
	}
	dir := t.TempDir()
	img, mnt := filepath.Join(dir, "fs.ext4"), filepath.Join(dir, "mnt")
	run(t, "truncate", "-s", "64M", img)
	run(t, "mkfs.ext4", "-q", "-F", img)
	dev := strings.TrimSpace(run(t, "losetup", "-f", "--show", img))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount(dev, mnt, "ext4", 0, ""); err != nil {
		t.Skipf("cannot mount %s: %v", dev, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, 0) })
	before := statfs(t, mnt)

	g, err := Grow(mnt, dev)
	if err != nil || g.Grew() {
		t.Fatalf("Grow on a full device = %+v, %v; want nothing done", g, err)
	}
	run(t, "truncate", "-s", "128M", img)
	run(t, "losetup", "-c", dev)
	if !hasCap(t, unix.CAP_SYS_RESOURCE) {
		t.Skip("no CAP_SYS_RESOURCE, which EXT4_IOC_RESIZE_FS needs (a container's root may lack it)")
	}
	g, err = Grow(mnt, dev)
	if err != nil {
		t.Fatal(err)
	}
	if !g.Grew() || g.NewBlocks*g.BlockSize != 128<<20 {
		t.Fatalf("Grow = %+v; want grown to 128 MiB", g)
	}
	after := statfs(t, mnt)
	if got := after.Blocks * uint64(after.Bsize); got < 120<<20 || after.Blocks <= before.Blocks {
		t.Errorf("statfs after the grow: %d bytes (%d blocks, %d before); want about 128 MiB", got, after.Blocks, before.Blocks)
	}
	if g, err := Grow(mnt, dev); err != nil || g.Grew() {
		t.Errorf("a second Grow = %+v, %v; want nothing done", g, err)
	}
}

// hasCap reports whether this process has capability c in effect.
func hasCap(t *testing.T, c int) bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("read capabilities: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			eff, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && eff&(1<<c) != 0
		}
	}
	return false
}

func statfs(t *testing.T, dir string) unix.Statfs_t {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
