package guestfs

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

func TestTarget(t *testing.T) {
	const gib = 1 << 30
	for _, c := range []struct {
		name                  string
		dev, bsize, cur, want uint64
	}{
		{"grows to the device", 5 * gib, 4096, gib / 4096, 5 * gib / 4096},
		{"drops a partial block", 5*gib + 1000, 4096, gib / 4096, 5 * gib / 4096},
		{"already full", gib, 4096, gib / 4096, gib / 4096},
		{"never shrinks", gib, 4096, 2 * gib / 4096, 2 * gib / 4096},
		{"1k blocks", 3 * 1024, 1024, 1, 3},
		{"no block size", gib, 0, 7, 7},
	} {
		if got := Target(c.dev, c.bsize, c.cur); got != c.want {
			t.Errorf("%s: Target(%d, %d, %d) = %d, want %d", c.name, c.dev, c.bsize, c.cur, got, c.want)
		}
	}
}

const mountinfo = `22 1 254:0 / / rw,relatime - ext4 /dev/root rw
23 22 0:5 / /dev rw,nosuid - devtmpfs devtmpfs rw,size=500k
24 22 254:16 / /root rw,relatime - ext4 /dev/vdb rw
`

func TestRootMount(t *testing.T) {
	m, ok := RootMount(mountinfo)
	if !ok || m != (Mount{MajMin: "254:0", Target: "/", FSType: "ext4", Source: "/dev/root"}) {
		t.Fatalf("RootMount = %+v, %v", m, ok)
	}
	over := mountinfo + "30 22 0:30 / / rw - overlay overlay rw\n"
	if m, _ := RootMount(over); m.FSType != "overlay" {
		t.Errorf("the last mount on / hides the others; got %+v", m)
	}
	if _, ok := RootMount("24 22 254:16 / /root rw - ext4 /dev/vdb rw\n"); ok {
		t.Error("RootMount found / where nothing is mounted on it")
	}
}

func TestCmdlineRoot(t *testing.T) {
	if got := CmdlineRoot("console=ttyS0 root=/dev/vda rw quiet"); got != "/dev/vda" {
		t.Errorf("CmdlineRoot = %q", got)
	}
	if got := CmdlineRoot("console=ttyS0"); got != "" {
		t.Errorf("CmdlineRoot without root= = %q", got)
	}
}

// fakeHost writes a proc and sys tree for RootDevice.
func fakeHost(t *testing.T, mi, cmdline, uevent string) Paths {
	t.Helper()
	p := Paths{Proc: t.TempDir(), Sys: t.TempDir(), Dev: "/dev"}
	write := func(path, s string) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(p.Proc, "self", "mountinfo"), mi)
	write(filepath.Join(p.Proc, "cmdline"), cmdline)
	if uevent != "" {
		write(filepath.Join(p.Sys, "dev", "block", "254:0", "uevent"), uevent)
	}
	return p
}

func TestRootDevice(t *testing.T) {
	for _, c := range []struct {
		name, mi, cmdline, uevent, want string
	}{
		{"sysfs names /dev/root", mountinfo, "root=/dev/sda", "MAJOR=254\nMINOR=0\nDEVNAME=vda\nDEVTYPE=disk\n", "/dev/vda"},
		{"the mount's source", "22 1 254:0 / / rw - ext4 /dev/vdc rw\n", "root=/dev/sda", "", "/dev/vdc"},
		{"root= when the source is /dev/root", mountinfo, "console=ttyS0 root=/dev/vda rw", "", "/dev/vda"},
	} {
		dev, fstype, err := fakeHost(t, c.mi, c.cmdline, c.uevent).RootDevice()
		if err != nil || dev != c.want || fstype != "ext4" {
			t.Errorf("%s: RootDevice = %q, %q, %v; want %q, ext4", c.name, dev, fstype, err, c.want)
		}
	}
	if dev, _, err := fakeHost(t, mountinfo, "console=ttyS0", "").RootDevice(); err == nil {
		t.Errorf("RootDevice with no way to name /dev/root = %q, want an error", dev)
	}
}

func superblock(blocksLo, blocksHi, logSize, incompat uint32) []byte {
	b := make([]byte, superblockSize)
	le := binary.LittleEndian
	le.PutUint32(b[0x4:], blocksLo)
	le.PutUint32(b[0x18:], logSize)
	le.PutUint16(b[0x38:], ext4Magic)
	le.PutUint32(b[0x60:], incompat)
	le.PutUint32(b[0x150:], blocksHi)
	return b
}

func TestParseSuperblock(t *testing.T) {
	sb, err := ParseSuperblock(superblock(1000, 3, 2, 0))
	if err != nil || sb != (Superblock{Blocks: 1000, BlockSize: 4096}) {
		t.Errorf("without 64bit the high word is ignored: %+v, %v", sb, err)
	}
	sb, err = ParseSuperblock(superblock(1000, 3, 0, incompat64bit))
	if err != nil || sb != (Superblock{Blocks: 3<<32 | 1000, BlockSize: 1024}) {
		t.Errorf("64bit: %+v, %v", sb, err)
	}
	bad := superblock(1, 0, 2, 0)
	bad[0x38] = 0
	if _, err := ParseSuperblock(bad); err == nil {
		t.Error("a bad magic was accepted")
	}
	if _, err := ParseSuperblock(superblock(1, 0, 40, 0)); err == nil {
		t.Error("a block size of 2^50 was accepted")
	}
	if _, err := ParseSuperblock(make([]byte, 10)); err == nil {
		t.Error("a short superblock was accepted")
	}
}
