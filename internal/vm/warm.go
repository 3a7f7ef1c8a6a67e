package vm

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"syscall"
	"time"

	"banger/internal/agent"
	"banger/internal/vmm"
)

// A template is a snapshot of a booted, settled guest of one image and
// shape, that VMs of that image and shape restore from instead of booting
// (see docs/snapshots.md). The files are in templates.go.

// TemplateShape is what a template is made for besides its image.
type TemplateShape struct {
	VCPUs     int
	MemoryMiB int
	// RootBytes is the room on / its root disk was made with; a clone
	// inherits it.
	RootBytes int64 `json:",omitempty"`
	// Init is the VM's init choice (InitAgent, InitSystemd; "" for the
	// image's).
	Init string `json:",omitempty"`
}

// templateParams are added to a template's kernel command line. The
// template boots without an address (the network is left alone) and with
// its work disk unmounted (banger.work=none: neither the agent as PID 1
// nor banger-work.service under systemd mounts it): each clone mounts its
// own work disk when it takes its identity.
const templateParams = "banger.work=none"

// templateCmdline is the kernel command line of a template of an image
// whose init is init ("" for the default).
func templateCmdline(init string) string {
	c := "console=ttyS0 root=/dev/vda rw net.ifnames=0 panic=-1 quiet systemd.show_status=auto " + templateParams
	if init != "" {
		c += " init=" + init
	}
	return c
}

// TemplateKey names a template: a hash of the image (its id and the
// fingerprints of its rootfs, kernel and initrd files), the backend's own
// key for the machine (binary, version, accelerator, argv) and the shape.
// A template whose key differs from what a VM would need is not used: the
// VM boots cold.
//
// Files are fingerprinted by device, inode, size and modification time, not
// by content: hashing a 1 GiB rootfs would cost seconds on every run, and
// banger replaces image files by renaming new ones into place, which
// changes the inode.
func TemplateKey(ctx context.Context, b vmm.Snapshotter, backend, imageID string, cfg vmm.Config, room int64) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "banger-template-1\x00%s\x00%s\x00%d\x00%d\x00%d\x00", imageID, backend, cfg.VCPUs, cfg.MemoryMiB, room)
	files := []string{cfg.Kernel, cfg.Initrd}
	if len(cfg.Disks) > 0 {
		files = append(files, cfg.Disks[0].Path)
	}
	for _, f := range files {
		fp, err := fingerprint(f)
		if err != nil {
			return "", fmt.Errorf("template key: %w", err)
		}
		fmt.Fprintf(h, "%s\x00", fp)
	}
	bk, err := b.SnapshotKey(ctx, cfg)
	if err != nil {
		return "", fmt.Errorf("template key: %w", err)
	}
	fmt.Fprintf(h, "%s\x00", bk)
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// fingerprint identifies a file's current version without reading it;
// "" for no file.
func fingerprint(path string) (string, error) {
	if path == "" {
		return "-", nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Sprintf("%s:%d:%d", path, fi.Size(), fi.ModTime().UnixNano()), nil
	}
	return fmt.Sprintf("%s:%d:%d:%d:%d", path, st.Dev, st.Ino, fi.Size(), fi.ModTime().UnixNano()), nil
}

// cloneConfig is cfg, the config a VM would cold-boot with, made into a
// clone of tp: the template's kernel, initrd and command line (the
// guest's memory holds them), and disks, the clone's own overlays over the
// template's frozen ones.
func cloneConfig(tp Template, cfg vmm.Config, disks []vmm.Disk) vmm.Config {
	c := cfg
	c.Kernel, c.Initrd, c.Cmdline = tp.Kernel, tp.Initrd, tp.Cmdline
	c.Disks = disks
	return c
}

// fits says why tp cannot be restored as cfg ("" when it can).
func (tp Template) fits(cfg vmm.Config) string {
	switch {
	case tp.VCPUs != cfg.VCPUs || tp.MemoryMiB != cfg.MemoryMiB:
		return fmt.Sprintf("the template has %d vCPUs and %d MiB, the VM %d and %d", tp.VCPUs, tp.MemoryMiB, cfg.VCPUs, cfg.MemoryMiB)
	case len(tp.Disks) != len(cfg.Disks):
		return fmt.Sprintf("the template has %d disks, the VM %d", len(tp.Disks), len(cfg.Disks))
	case tp.NICs != len(cfg.NICs):
		return fmt.Sprintf("the template has %d NICs, the VM %d", tp.NICs, len(cfg.NICs))
	}
	return ""
}

// newIdentity is what a clone takes after its restore: its own address,
// name and MAC, a fresh machine-id, host entropy and the host's clock, and
// its work disk (the second disk) of workSize bytes.
func newIdentity(netcfg agent.NetConfig, mac string, workSize int64) (agent.Identity, error) {
	entropy := make([]byte, 64)
	if _, err := rand.Read(entropy); err != nil {
		return agent.Identity{}, fmt.Errorf("host entropy: %w", err)
	}
	mid := make([]byte, 16)
	if _, err := rand.Read(mid); err != nil {
		return agent.Identity{}, fmt.Errorf("machine-id: %w", err)
	}
	return agent.Identity{
		Net: netcfg, MAC: mac, MachineID: hex.EncodeToString(mid), Entropy: entropy,
		Time: time.Now(), WorkDevice: "/dev/vdb", WorkSize: workSize,
	}, nil
}
