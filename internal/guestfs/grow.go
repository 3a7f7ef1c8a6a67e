// Package guestfs grows a guest's root file system to fill its disk. The
// host makes a VM's root disk larger than its image (over the
// copy-on-write overlay, so the room costs nothing until used); the agent
// grows the ext4 file system on / into it at start, online, with the
// kernel's resize ioctl, so no resize2fs is needed in the image.
package guestfs

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Growth is what a grow found and did.
type Growth struct {
	Device    string // the block device under the file system
	BlockSize uint64 // the file system's block size in bytes
	DevBytes  uint64 // the device's size in bytes
	OldBlocks uint64 // the file system's block count before
	NewBlocks uint64 // and after (equal when nothing was done)
}

// Grew reports whether the file system was made larger.
func (g Growth) Grew() bool { return g.NewBlocks > g.OldBlocks }

// Target is the block count an ext4 file system of cur blocks of
// blockSize bytes should have on a device of devBytes: as many whole
// blocks as the device holds, and never fewer than cur (it never shrinks).
func Target(devBytes, blockSize, cur uint64) uint64 {
	if blockSize == 0 {
		return cur
	}
	return max(devBytes/blockSize, cur)
}

// Paths are where RootDevice looks: proc, sys and dev.
type Paths struct {
	Proc, Sys, Dev string
}

// RealPaths are the guest's own /proc, /sys and /dev.
func RealPaths() Paths { return Paths{Proc: "/proc", Sys: "/sys", Dev: "/dev"} }

// GrowRoot grows the ext4 file system mounted on / to fill its block
// device, and logs what it did. It is idempotent: on a file system that
// already fills its device it changes nothing. A root that is not ext4
// is left alone.
func GrowRoot(log *slog.Logger) (Growth, error) {
	start := time.Now()
	dev, fstype, err := RealPaths().RootDevice()
	if err != nil {
		return Growth{}, fmt.Errorf("grow /: %w", err)
	}
	if fstype != "ext4" {
		log.Info("root file system not grown", "device", dev, "type", fstype, "why", "only ext4 is grown")
		return Growth{Device: dev}, nil
	}
	g, err := Grow("/", dev)
	if err != nil {
		return g, fmt.Errorf("grow / on %s: %w", dev, err)
	}
	if !g.Grew() {
		log.Info("root file system fills its device", "device", dev, "bytes", g.OldBlocks*g.BlockSize)
		return g, nil
	}
	log.Info("root file system grown", "device", dev, "from_bytes", g.OldBlocks*g.BlockSize,
		"to_bytes", g.NewBlocks*g.BlockSize, "took", time.Since(start).Round(time.Millisecond))
	return g, nil
}

// RootDevice names the block device and type of the file system mounted
// on /, from mountinfo: the device node that sysfs names for its
// major:minor (the kernel shows a root= mount as /dev/root, which has no
// node), else the mount's source, else the kernel command line's root=.
func (p Paths) RootDevice() (dev, fstype string, err error) {
	b, err := os.ReadFile(filepath.Join(p.Proc, "self", "mountinfo"))
	if err != nil {
		return "", "", fmt.Errorf("read mountinfo: %w", err)
	}
	m, ok := RootMount(string(b))
	if !ok {
		return "", "", fmt.Errorf("nothing is mounted on / in %s", filepath.Join(p.Proc, "self", "mountinfo"))
	}
	if name := devName(p.Sys, m.MajMin); name != "" {
		return filepath.Join(p.Dev, name), m.FSType, nil
	}
	if strings.HasPrefix(m.Source, "/dev/") && m.Source != "/dev/root" {
		return m.Source, m.FSType, nil
	}
	if cl, err := os.ReadFile(filepath.Join(p.Proc, "cmdline")); err == nil {
		if root := CmdlineRoot(string(cl)); strings.HasPrefix(root, "/dev/") {
			return root, m.FSType, nil
		}
	}
	return "", "", fmt.Errorf("no device node for / (%s, device %s)", m.Source, m.MajMin)
}

// Mount is one line of mountinfo.
type Mount struct {
	MajMin, Target, FSType, Source string
}

// RootMount is the mount on / in mountinfo: the last one, which hides
// any below it.
func RootMount(mountinfo string) (Mount, bool) {
	var root Mount
	found := false
	for line := range strings.SplitSeq(mountinfo, "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 2 || f[4] != "/" {
			continue
		}
		root, found = Mount{MajMin: f[2], Target: f[4], FSType: g[0], Source: g[1]}, true
	}
	return root, found
}

// CmdlineRoot is the value of root= on a kernel command line.
func CmdlineRoot(cmdline string) string {
	root := ""
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, "root="); ok {
			root = v
		}
	}
	return root
}

// devName is the DEVNAME sysfs gives the block device majMin ("" when
// unknown).
func devName(sys, majMin string) string {
	b, err := os.ReadFile(filepath.Join(sys, "dev", "block", majMin, "uevent"))
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "DEVNAME="); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
