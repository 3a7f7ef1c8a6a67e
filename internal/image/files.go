package image

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/image/catalog"
)

// checkFile requires an absolute path to a regular file, whose content
// passes check when check is not nil.
func checkFile(what, p string, check func(*os.File) error) error {
	if !filepath.IsAbs(p) {
		return fmt.Errorf("%s %q: %w: give an absolute path", what, p, ErrInvalid)
	}
	f, _, err := openRegular(what, p, followLinks)
	if err != nil {
		return err
	}
	defer f.Close()
	if check != nil {
		if err := check(f); err != nil {
			return fmt.Errorf("%s %s: %w: %w", what, p, ErrInvalid, err)
		}
	}
	return nil
}

// isExt4 checks the ext2/3/4 superblock magic (0xEF53 at byte 1080).
func isExt4(f *os.File) error {
	b := make([]byte, 2)
	if _, err := f.ReadAt(b, 1080); err != nil || b[0] != 0x53 || b[1] != 0xEF {
		return errors.New("not an ext4 filesystem image (no ext superblock magic)")
	}
	return nil
}

// kernelKind tells a vmlinux (ELF) from a bzImage ("HdrS" at 0x202).
func kernelKind(f io.ReaderAt) string {
	b := make([]byte, 4)
	if _, err := f.ReadAt(b, 0); err == nil && string(b) == "\x7fELF" {
		return "vmlinux"
	}
	if _, err := f.ReadAt(b, 0x202); err == nil && string(b) == "HdrS" {
		return "bzimage"
	}
	return ""
}

func isKernel(f *os.File) error {
	if kernelKind(f) == "" {
		return errors.New("not a Linux kernel: want an uncompressed vmlinux (ELF) or a bzImage")
	}
	return nil
}

// kernelVersion reads the version string of a bzImage ("" otherwise).
func kernelVersion(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	if kernelKind(f) != "bzimage" {
		return ""
	}
	b := make([]byte, 2)
	if _, err := f.ReadAt(b, 0x20E); err != nil {
		return ""
	}
	off := int64(b[0]) | int64(b[1])<<8
	if off == 0 {
		return ""
	}
	buf := make([]byte, 256)
	n, _ := f.ReadAt(buf, off+0x200)
	s := string(buf[:n])
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	if v, _, ok := strings.Cut(s, " "); ok {
		s = v
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return ""
		}
	}
	return s
}

// kernelFileName names a kernel file by its format: vmlinux or vmlinuz.
func kernelFileName(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	switch kernelKind(f) {
	case "vmlinux":
		return catalog.VmlinuxFile, nil
	case "bzimage":
		return catalog.VmlinuzFile, nil
	}
	return "", fmt.Errorf("%s: %w: not a vmlinux or bzImage", p, ErrInvalid)
}
