package golden

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"banger/internal/atomicfile"
	"banger/internal/digest"
)

// outDir is the build's output directory; it remembers what it wrote so a
// failed build can take it all back.
type outDir struct {
	path    string
	created bool     // the directory did not exist before the build
	written []string // files written into it
}

func newOutDir(path string) (*outDir, error) {
	o := &outDir{path: path}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		o.created = true
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("creating output dir: %w", err)
	}
	return o, nil
}

func (o *outDir) file(name string) string { return filepath.Join(o.path, name) }

// rollback removes every file the build wrote, and the directory if the build
// created it.
func (o *outDir) rollback() error {
	var errs []error
	for _, f := range o.written {
		for _, p := range []string{f, f + ".tmp"} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("removing %s: %w", p, err))
			}
		}
	}
	if o.created {
		if err := os.Remove(o.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing output dir: %w", err))
		}
	}
	return errors.Join(errs...)
}

// begin records that name is about to be written and returns its path.
func (o *outDir) begin(name string) string {
	final := o.file(name)
	o.written = append(o.written, final)
	return final
}

// copyOut copies src (a host path) into the output dir as name, atomically.
func (o *outDir) copyOut(src, name string) error {
	final := o.begin(name)
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("opening %s: %w", src, err)
	}
	defer in.Close()
	if err := atomicfile.WriteFrom(final, in, 0o644); err != nil {
		return fmt.Errorf("copying %s to %s: %w", src, final, err)
	}
	return nil
}

// extractKernel copies the rootfs's only kernel and its initrd to the output
// dir and returns the kernel version.
func extractKernel(rootfs string, out *outDir) (string, error) {
	kernels, err := filepath.Glob(filepath.Join(rootfs, "boot", "vmlinuz-*"))
	if err != nil {
		return "", err
	}
	if len(kernels) != 1 {
		return "", fmt.Errorf("expected exactly one /boot/vmlinuz-* in the rootfs, found %d", len(kernels))
	}
	version := strings.TrimPrefix(filepath.Base(kernels[0]), "vmlinuz-")
	initrd := filepath.Join(rootfs, "boot", "initrd.img-"+version)
	for _, p := range []string{kernels[0], initrd} {
		fi, err := os.Lstat(p)
		if err != nil {
			return "", fmt.Errorf("checking %s: %w", p, err)
		}
		if !fi.Mode().IsRegular() {
			return "", fmt.Errorf("%s is not a regular file", p)
		}
	}
	if err := out.copyOut(kernels[0], KernelFile); err != nil {
		return "", err
	}
	if err := out.copyOut(initrd, InitrdFile); err != nil {
		return "", err
	}
	return version, nil
}

const mib = 1 << 20

// ImageSize returns the size of an ext4 image for a tree using used bytes:
// used × 1.4 + 512 MiB, rounded up to a whole MiB.
func ImageSize(used int64) int64 {
	if used < 0 {
		used = 0
	}
	size := (used*14+9)/10 + 512*mib
	return (size + mib - 1) / mib * mib
}

// DiskUsage returns the bytes a tree occupies on disk, like `du -s -B1`:
// allocated blocks of every entry, each hard-linked inode counted once. It
// does not follow symlinks.
func DiskUsage(dir string) (int64, error) {
	type inode struct{ dev, ino uint64 }
	seen := map[inode]bool{}
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			total += fi.Size()
			return nil
		}
		if st.Nlink > 1 && !fi.IsDir() {
			k := inode{uint64(st.Dev), st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		total += st.Blocks * 512
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("measuring %s: %w", dir, err)
	}
	return total, nil
}

// makeImage packs rootfs into the output dir's rootfs.ext4 (sparse) and
// returns its size.
func (b *Builder) makeImage(ctx context.Context, rootfs string, out *outDir) (int64, error) {
	used, err := DiskUsage(rootfs)
	if err != nil {
		return 0, err
	}
	size := ImageSize(used)
	final := out.begin(RootfsFile)
	tmp := final + ".tmp" // mkfs.ext4 writes here; renamed when complete
	// mke2fs drops a too-small last block group, so the file is created at
	// the exact size first (sparse) and mke2fs is told the same size.
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, fmt.Errorf("creating image file: %w", err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("sizing image file: %w", err)
	}
	if err := b.run(ctx, "mkfs.ext4", "-q", "-F", "-L", "banger-root", "-d", rootfs,
		tmp, fmt.Sprintf("%dM", size/mib)); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	fi, err := os.Stat(tmp)
	if err != nil {
		return 0, fmt.Errorf("checking new image: %w", err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return 0, fmt.Errorf("renaming image: %w", err)
	}
	return fi.Size(), nil
}

// Manifest is the content of manifest.json.
type Manifest struct {
	Name          string    `json:"name"`
	Suite         string    `json:"suite"`
	Mirror        string    `json:"mirror"`
	KernelVersion string    `json:"kernel_version"`
	Packages      []string  `json:"packages"`
	Created       time.Time `json:"created"`
	RootfsBytes   int64     `json:"rootfs_bytes"`
	RootfsSHA256  string    `json:"rootfs_sha256"`
	KernelSHA256  string    `json:"kernel_sha256"`
	InitrdSHA256  string    `json:"initrd_sha256"`
}

// ReadManifest reads an image's manifest.json.
func ReadManifest(path string) (Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Manifest{}, fmt.Errorf("reading manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Manifest{}, fmt.Errorf("parsing manifest %s: %w", path, err)
	}
	return m, nil
}

func writeManifest(out *outDir, spec Spec, pkgs []string, kernelVersion string, created time.Time) error {
	m := Manifest{
		Name:          spec.Name,
		Suite:         spec.Suite,
		Mirror:        spec.Mirror,
		KernelVersion: kernelVersion,
		Packages:      pkgs,
		Created:       created.UTC(),
	}
	fi, err := os.Stat(out.file(RootfsFile))
	if err != nil {
		return fmt.Errorf("checking rootfs image: %w", err)
	}
	m.RootfsBytes = fi.Size()
	for _, h := range []struct {
		file string
		dst  *string
	}{
		{RootfsFile, &m.RootfsSHA256},
		{KernelFile, &m.KernelSHA256},
		{InitrdFile, &m.InitrdSHA256},
	} {
		sum, err := digest.File(out.file(h.file))
		if err != nil {
			return err
		}
		*h.dst = sum
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding manifest: %w", err)
	}
	if err := atomicfile.Write(out.begin(ManifestFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing manifest: %w", err)
	}
	return nil
}
