package qemu

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"banger/internal/vmm"
)

// RootDiskName is the file name of a VM's root disk under QEMU.
const RootDiskName = "root.qcow2"

var _ vmm.RootDisker = (*QEMU)(nil)

// PrepareRootDisk implements vmm.RootDisker: a qcow2 file in dir whose
// backing file is the image's raw rootfs. Nothing of the image is copied;
// the VM's writes land in the overlay.
func (q *QEMU) PrepareRootDisk(ctx context.Context, image, dir string) (vmm.Disk, error) {
	path := filepath.Join(dir, RootDiskName)
	if err := Overlay(ctx, q.img, image, path); err != nil {
		return vmm.Disk{}, err
	}
	return vmm.Disk{Path: path, Format: "qcow2"}, nil
}

// Overlay creates a qcow2 file at path over the raw image backing with
// qemu-img (the tool img names; "" means qemu-img on PATH).
func Overlay(ctx context.Context, img, backing, path string) error {
	if !filepath.IsAbs(backing) {
		return fmt.Errorf("create overlay: backing file %q must be an absolute path", backing)
	}
	if _, err := os.Stat(backing); err != nil {
		return fmt.Errorf("create overlay: %w", err)
	}
	if img == "" {
		img = imgTool
	}
	out, err := exec.CommandContext(ctx, img, "create", "-q", "-f", "qcow2", "-F", "raw", "-b", backing, path).CombinedOutput()
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("create overlay %s over %s: %s: %w: %s", path, backing, img, err, strings.TrimSpace(string(out)))
	}
	return nil
}
