package qemu

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"banger/internal/vmm"
)

// RootDiskName is the file name of a VM's root disk under QEMU.
const RootDiskName = "root.qcow2"

var _ vmm.RootDisker = (*QEMU)(nil)

// PrepareRootDisk implements vmm.RootDisker: a qcow2 file in dir whose
// backing file is the image's raw rootfs. Nothing of the image is copied;
// the VM's writes land in the overlay. Its virtual size is size when that
// is larger than the image.
func (q *QEMU) PrepareRootDisk(ctx context.Context, image, dir string, size int64) (vmm.Disk, error) {
	path := filepath.Join(dir, RootDiskName)
	if err := OverlaySized(ctx, q.img, image, "raw", path, size); err != nil {
		return vmm.Disk{}, err
	}
	return vmm.Disk{Path: path, Format: "qcow2"}, nil
}

// OverlaySized creates a qcow2 file at path over backing, a file of the
// given format ("" is raw), with qemu-img (the tool img names; "" means
// qemu-img on PATH). Its virtual size is size bytes when that is larger
// than backing (qcow2 allocates nothing for the difference).
func OverlaySized(ctx context.Context, img, backing, format, path string, size int64) error {
	if !filepath.IsAbs(backing) {
		return fmt.Errorf("create overlay: backing file %q must be an absolute path", backing)
	}
	st, err := os.Stat(backing)
	if err != nil {
		return fmt.Errorf("create overlay: %w", err)
	}
	if img == "" {
		img = imgTool
	}
	if format == "" {
		format = "raw"
	}
	args := []string{"create", "-q", "-f", "qcow2", "-F", format, "-b", backing, path}
	if size > st.Size() {
		args = append(args, strconv.FormatInt(size, 10))
	}
	out, err := exec.CommandContext(ctx, img, args...).CombinedOutput()
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("create overlay %s over %s: %s: %w: %s", path, backing, img, err, strings.TrimSpace(string(out)))
	}
	return nil
}
