// Package rootdisk makes a VM's own raw root disk from an image's raw
// rootfs, for backends that boot raw disks: a device-mapper snapshot over
// loop devices where device-mapper is usable (nothing is copied; the
// snapshot is activated at each start), else a reflink or sparse copy.
package rootdisk

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"

	"banger/internal/sparse"
	"banger/internal/vmm"
)

// Root disk methods, in the order Prepare tries them.
const (
	MethodDMSnapshot = "dm-snapshot"
	MethodReflink    = "reflink"
	MethodSparseCopy = "sparse-copy"
)

// RawName is the file name of a VM's raw root disk when it is a copy.
const RawName = "root.raw"

// Host holds what making root disks touches on the host, so tests can
// replace it. RealHost is the real one.
type Host struct {
	LookPath func(string) (string, error)
	DevRoot  string // /dev: mapper/control, loop-control, mapper/<name>
	SysRoot  string // /sys: block/loopN/loop/backing_file
	Clone    func(dst, src *os.File) error
	// Run runs losetup and dmsetup to completion and returns their
	// combined output.
	Run func(ctx context.Context, argv []string) ([]byte, error)
	Log *slog.Logger
}

// RealHost is the host banger runs on.
func RealHost() Host {
	return Host{
		LookPath: exec.LookPath,
		DevRoot:  "/dev",
		SysRoot:  "/sys",
		Clone:    func(dst, src *os.File) error { return unix.IoctlFileClone(int(dst.Fd()), int(src.Fd())) },
		Run: func(ctx context.Context, argv []string) ([]byte, error) {
			return exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		},
		Log: slog.New(slog.DiscardHandler),
	}
}

// Prepare makes a VM's root disk in dir from the raw image: a dm-snapshot
// (dir gets root.origin, a hard link of the image, a sparse root.cow and
// the root.dm marker, which is the returned Disk; Activate turns it into a
// device at each start) where device-mapper is usable, otherwise, or if the
// image cannot be hard-linked into dir, root.raw, a copy (see Copy). It
// returns the method used and, when it is not a snapshot, why. A disk
// asked to be larger than the image (size) is a copy extended, sparse, to
// size: a snapshot is as large as its image.
func (h Host) Prepare(ctx context.Context, image, dir string, size int64) (_ vmm.Disk, method, why string, _ error) {
	ok, why := h.DMUsable()
	if ok {
		ok, why = fitsImage(image, size)
	}
	if ok {
		d, err := prepareSnapshot(image, dir)
		if err == nil {
			return d, MethodDMSnapshot, "", nil
		}
		if !errors.Is(err, errCrossDevice) {
			return vmm.Disk{}, "", "", err
		}
		why = err.Error()
	}
	dst := filepath.Join(dir, RawName)
	method, err := h.Copy(ctx, image, dst)
	if err != nil {
		return vmm.Disk{}, "", "", err
	}
	if err := Extend(dst, size); err != nil {
		os.Remove(dst)
		return vmm.Disk{}, "", "", err
	}
	return vmm.Disk{Path: dst, Format: "raw"}, method, why, nil
}

// fitsImage reports whether a root disk of size bytes is no larger than
// image, so a snapshot of the image can be it.
func fitsImage(image string, size int64) (bool, string) {
	st, err := os.Stat(image)
	if err != nil || size <= st.Size() {
		return true, ""
	}
	return false, fmt.Sprintf("the root disk is grown to %d bytes beyond its %d-byte image, and a dm-snapshot is as large as its image", size, st.Size())
}

// Extend makes the raw disk at path size bytes long when it is shorter,
// with a hole (truncate), so the room costs nothing until it is written.
// A disk is never shrunk.
func Extend(path string, size int64) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("grow root disk: %w", err)
	}
	if size <= st.Size() {
		return nil
	}
	if err := os.Truncate(path, size); err != nil {
		return fmt.Errorf("grow root disk %s to %d bytes: %w", path, size, err)
	}
	return nil
}

// dmUsable reports whether device-mapper snapshots over loop devices could
// be made here: dmsetup and losetup installed, /dev/mapper/control and
// /dev/loop-control openable (so the dm and loop drivers are there, and we
// may use them).
func (p Host) DMUsable() (bool, string) {
	for _, tool := range []string{"dmsetup", "losetup"} {
		if _, err := p.LookPath(tool); err != nil {
			return false, tool + " not installed"
		}
	}
	for _, ctl := range []string{filepath.Join(p.DevRoot, "mapper", "control"), filepath.Join(p.DevRoot, "loop-control")} {
		f, err := os.OpenFile(ctl, os.O_RDWR, 0)
		if err != nil {
			return false, fmt.Sprintf("%s not usable: %v", ctl, err)
		}
		f.Close()
	}
	return true, "dmsetup, losetup, " + filepath.Join(p.DevRoot, "mapper", "control") + " and " + filepath.Join(p.DevRoot, "loop-control") + " usable"
}

// copyMethod is the copy PrepareRootDisk would make in dir.
func (p Host) copyMethod(dir string) string {
	if p.reflinkWorks(dir) {
		return MethodReflink
	}
	return MethodSparseCopy
}

// Probe names the method Prepare would use for disks in dir, with why,
// for doctor.
func (p Host) Probe(dir string) string {
	ok, why := p.DMUsable()
	if ok {
		return fmt.Sprintf("%s (%s; copies, if the image is on another filesystem, use %s)", MethodDMSnapshot, why, p.copyMethod(dir))
	}
	return fmt.Sprintf("%s (dm-snapshot not usable: %s)", p.copyMethod(dir), why)
}

// reflinkWorks clones a scratch file in dir.
func (p Host) reflinkWorks(dir string) bool {
	a, err := os.CreateTemp(dir, ".banger-reflink-probe-*")
	if err != nil {
		return false
	}
	defer os.Remove(a.Name())
	defer a.Close()
	if _, err := a.Write(make([]byte, 4096)); err != nil {
		return false
	}
	b, err := os.CreateTemp(dir, ".banger-reflink-probe-*")
	if err != nil {
		return false
	}
	defer os.Remove(b.Name())
	defer b.Close()
	return p.Clone(b, a) == nil
}

// Copy gives a VM its own raw root disk at dst by copying the raw image: a
// reflink copy (FICLONE, on btrfs, XFS with reflink, bcachefs...) if the
// filesystem can, else a sparse copy that copies only the data extents
// (SEEK_DATA/SEEK_HOLE). It returns the method used. dst must not exist;
// on failure nothing is left at dst.
func (p Host) Copy(ctx context.Context, image, dst string) (method string, err error) {
	src, err := os.Open(image)
	if err != nil {
		return "", fmt.Errorf("prepare root disk %s: %w", dst, err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return "", fmt.Errorf("prepare root disk %s: %w", dst, err)
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("prepare root disk %s: %w", dst, err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("prepare root disk %s: %w", dst, cerr)
		}
		if err != nil {
			os.Remove(dst)
		}
	}()
	if cerr := p.Clone(out, src); cerr == nil {
		return MethodReflink, nil
	}
	// A failed clone may have left nothing or garbage; start over.
	if err := out.Truncate(0); err != nil {
		return "", fmt.Errorf("prepare root disk %s: %w", dst, err)
	}
	if err := sparse.Copy(ctx, out, src, fi.Size(), nil); err != nil {
		return "", fmt.Errorf("prepare root disk %s from %s: sparse copy: %w", dst, image, err)
	}
	return MethodSparseCopy, nil
}
