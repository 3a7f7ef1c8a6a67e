package firecracker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Root disk methods, in the order the backend's PrepareRootDisk tries them.
const (
	MethodDMSnapshot = "dm-snapshot"
	MethodReflink    = "reflink"
	MethodSparseCopy = "sparse-copy"
)

// diskPrep holds what PrepareRootDisk touches on the host, so tests can
// replace it.
type diskPrep struct {
	lookPath func(string) (string, error)
	devRoot  string // /dev: mapper/control, loop-control, mapper/<name>
	sysRoot  string // /sys: block/loopN/loop/backing_file
	clone    func(dst, src *os.File) error
}

func hostDiskPrep() diskPrep {
	return diskPrep{
		lookPath: exec.LookPath,
		devRoot:  "/dev",
		sysRoot:  "/sys",
		clone:    func(dst, src *os.File) error { return unix.IoctlFileClone(int(dst.Fd()), int(src.Fd())) },
	}
}

// PrepareRootDisk gives a VM its own raw root disk at dst by copying the raw
// image: a reflink copy (FICLONE, on btrfs, XFS with reflink, bcachefs...)
// if the filesystem can, else a sparse copy that copies only the data
// extents (SEEK_DATA/SEEK_HOLE). It returns the method used. dst must not
// exist; on failure nothing is left at dst. The backend's PrepareRootDisk
// prefers a device-mapper snapshot to either where device-mapper is usable.
func PrepareRootDisk(ctx context.Context, image, dst string) (method string, err error) {
	return hostDiskPrep().prepare(ctx, image, dst)
}

// ProbeRootDiskMethod names the method the backend's PrepareRootDisk would
// use for disks in dir, with why, for doctor.
func ProbeRootDiskMethod(dir string) string {
	return hostDiskPrep().probe(dir)
}

// dmUsable reports whether device-mapper snapshots over loop devices could
// be made here: dmsetup and losetup installed, /dev/mapper/control and
// /dev/loop-control openable (so the dm and loop drivers are there, and we
// may use them).
func (p diskPrep) dmUsable() (bool, string) {
	for _, tool := range []string{"dmsetup", "losetup"} {
		if _, err := p.lookPath(tool); err != nil {
			return false, tool + " not installed"
		}
	}
	for _, ctl := range []string{filepath.Join(p.devRoot, "mapper", "control"), filepath.Join(p.devRoot, "loop-control")} {
		f, err := os.OpenFile(ctl, os.O_RDWR, 0)
		if err != nil {
			return false, fmt.Sprintf("%s not usable: %v", ctl, err)
		}
		f.Close()
	}
	return true, "dmsetup, losetup, " + filepath.Join(p.devRoot, "mapper", "control") + " and " + filepath.Join(p.devRoot, "loop-control") + " usable"
}

// copyMethod is the copy PrepareRootDisk would make in dir.
func (p diskPrep) copyMethod(dir string) string {
	if p.reflinkWorks(dir) {
		return MethodReflink
	}
	return MethodSparseCopy
}

func (p diskPrep) probe(dir string) string {
	ok, why := p.dmUsable()
	if ok {
		return fmt.Sprintf("%s (%s; copies, if the image is on another filesystem, use %s)", MethodDMSnapshot, why, p.copyMethod(dir))
	}
	return fmt.Sprintf("%s (dm-snapshot not usable: %s)", p.copyMethod(dir), why)
}

// reflinkWorks clones a scratch file in dir.
func (p diskPrep) reflinkWorks(dir string) bool {
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
	return p.clone(b, a) == nil
}

func (p diskPrep) prepare(ctx context.Context, image, dst string) (method string, err error) {
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
	if cerr := p.clone(out, src); cerr == nil {
		return MethodReflink, nil
	}
	// A failed clone may have left nothing or garbage; start over.
	if err := out.Truncate(0); err != nil {
		return "", fmt.Errorf("prepare root disk %s: %w", dst, err)
	}
	if err := sparseCopy(ctx, out, src, fi.Size()); err != nil {
		return "", fmt.Errorf("prepare root disk %s from %s: sparse copy: %w", dst, image, err)
	}
	return MethodSparseCopy, nil
}

// sparseCopy copies the data extents of src into dst and sets dst's size, so
// holes stay holes.
func sparseCopy(ctx context.Context, dst, src *os.File, size int64) error {
	fd := int(src.Fd())
	buf := make([]byte, 1<<20)
	var off int64
	for off < size {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // no data after off
		}
		if err != nil {
			return fmt.Errorf("seek data at %d: %w", off, err)
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("seek hole at %d: %w", data, err)
		}
		w := io.NewOffsetWriter(dst, data)
		if _, err := io.CopyBuffer(w, io.NewSectionReader(src, data, hole-data), buf); err != nil {
			return fmt.Errorf("copy %d..%d: %w", data, hole, err)
		}
		off = hole
	}
	if err := dst.Truncate(size); err != nil {
		return err
	}
	return dst.Sync()
}
