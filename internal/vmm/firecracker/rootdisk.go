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

// Root disk methods, in the order PrepareRootDisk tries them.
const (
	MethodDMSnapshot = "dm-snapshot"
	MethodReflink    = "reflink"
	MethodSparseCopy = "sparse-copy"
)

// diskPrep holds what PrepareRootDisk touches on the host, so tests can
// replace it.
type diskPrep struct {
	lookPath func(string) (string, error)
	devRoot  string
	clone    func(dst, src *os.File) error
}

func hostDiskPrep() diskPrep {
	return diskPrep{
		lookPath: exec.LookPath,
		devRoot:  "/dev",
		clone:    func(dst, src *os.File) error { return unix.IoctlFileClone(int(dst.Fd()), int(src.Fd())) },
	}
}

// PrepareRootDisk gives a VM its own raw root disk at dst from the raw image,
// trying in order: a device-mapper snapshot (only probed: banger does not
// build one yet, so it is reported and skipped), a reflink copy (FICLONE,
// on btrfs, XFS with reflink, bcachefs...), and a sparse copy that copies only
// the data extents (SEEK_DATA/SEEK_HOLE). It returns the method used. dst must
// not exist; on failure nothing is left at dst.
func PrepareRootDisk(ctx context.Context, image, dst string) (method string, err error) {
	return hostDiskPrep().prepare(ctx, image, dst)
}

// ProbeRootDiskMethod names the method PrepareRootDisk would use for disks in
// dir, with the device-mapper status, for doctor.
func ProbeRootDiskMethod(dir string) string {
	return hostDiskPrep().probe(dir)
}

// dmUsable reports whether device-mapper snapshots could be made here.
func (p diskPrep) dmUsable() (bool, string) {
	if _, err := p.lookPath("dmsetup"); err != nil {
		return false, "dmsetup not installed"
	}
	ctl := filepath.Join(p.devRoot, "mapper", "control")
	f, err := os.OpenFile(ctl, os.O_RDWR, 0)
	if err != nil {
		return false, fmt.Sprintf("%s not usable: %v", ctl, err)
	}
	f.Close()
	return true, "dmsetup and " + ctl + " usable"
}

func (p diskPrep) probe(dir string) string {
	_, dmWhy := p.dmUsable()
	m := MethodSparseCopy
	if p.reflinkWorks(dir) {
		m = MethodReflink
	}
	return fmt.Sprintf("%s (dm-snapshot: %s; not implemented yet)", m, dmWhy)
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
	// Device-mapper snapshots are only probed (see ProbeRootDiskMethod);
	// building one is future work, so the copies come first here.
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
