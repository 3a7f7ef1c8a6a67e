package oci

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ErrUnsafeLayer is wrapped by errors about layer entries that try to escape
// the root filesystem or exceed the configured limits.
var ErrUnsafeLayer = errors.New("unsafe image layer")

// Limits bound what a layer may make banger write. Zero fields take the
// defaults of DefaultLimits.
type Limits struct {
	MaxFileBytes  int64 // largest single regular file
	MaxTotalBytes int64 // sum of all file contents across layers (and of decompressed layer bytes)
	MaxEntries    int   // tar entries across all layers
}

// DefaultLimits returns the limits used for zero fields of Limits.
func DefaultLimits() Limits {
	return Limits{MaxFileBytes: 8 << 30, MaxTotalBytes: 32 << 30, MaxEntries: 2_000_000}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = d.MaxFileBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = d.MaxTotalBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	return l
}

const maxPathLen = 4096

// flattener applies layer tarballs, in order, to a directory. Every entry is
// placed relative to the directory: parents are checked one component at a
// time with Lstat and an entry whose parent is a symlink is skipped, so no
// symlink is ever followed while writing; the os.Root underneath refuses any
// escape as a second line of defence.
type flattener struct {
	root     *os.Root
	dir      string
	lim      Limits
	chown    bool
	total    int64
	entries  int
	notes    []string
	layer    map[string]bool // paths written by the current layer
	dirTimes map[string]time.Time
}

func newFlattener(dir string, lim Limits) (*flattener, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening rootfs tree: %w", err)
	}
	return &flattener{
		root: root, dir: dir, lim: lim.withDefaults(), chown: os.Geteuid() == 0,
		dirTimes: map[string]time.Time{},
	}, nil
}

func (f *flattener) Close() error { return f.root.Close() }

func (f *flattener) note(format string, args ...any) {
	if len(f.notes) < 200 {
		f.notes = append(f.notes, fmt.Sprintf(format, args...))
	}
}

// cleanName turns a tar entry name into a path relative to the root ("" is
// the root itself). Names with a ".." component are refused; a leading "/"
// is dropped, which keeps absolute names inside the root.
func cleanName(name string) (string, error) {
	if len(name) > maxPathLen {
		return "", fmt.Errorf("%w: entry name longer than %d bytes", ErrUnsafeLayer, maxPathLen)
	}
	if strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: entry name %q contains NUL", ErrUnsafeLayer, name)
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", fmt.Errorf("%w: entry %q has a '..' component", ErrUnsafeLayer, name)
		}
	}
	p := strings.TrimPrefix(path.Clean("/"+name), "/")
	return p, nil
}

func rootName(rel string) string {
	if rel == "" {
		return "."
	}
	return rel
}

// parents makes sure every directory above rel exists as a real directory
// (creating missing ones 0755 root:root when create is set). ok is false when
// a parent is a symlink or missing (and not created): the entry must be
// skipped.
func (f *flattener) parents(rel string, create bool) (ok bool, err error) {
	dir := path.Dir(rel)
	if dir == "." {
		return true, nil
	}
	cur := ""
	for _, c := range strings.Split(dir, "/") {
		cur = path.Join(cur, c)
		fi, err := f.root.Lstat(cur)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if !create {
				return false, nil
			}
			if err := f.root.Mkdir(cur, 0o755); err != nil {
				return false, fmt.Errorf("creating /%s: %w", cur, err)
			}
			if f.chown {
				if err := f.root.Lchown(cur, 0, 0); err != nil {
					return false, fmt.Errorf("chown /%s: %w", cur, err)
				}
			}
		case err != nil:
			return false, fmt.Errorf("checking /%s: %w", cur, err)
		case fi.Mode()&fs.ModeSymlink != 0:
			return false, nil
		case !fi.IsDir():
			return false, nil
		}
	}
	return true, nil
}

// applyLayer extracts one uncompressed layer tarball.
func (f *flattener) applyLayer(r io.Reader) error {
	f.layer = map[string]bool{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading layer: %w", err)
		}
		f.entries++
		if f.entries > f.lim.MaxEntries {
			return fmt.Errorf("%w: more than %d entries", ErrUnsafeLayer, f.lim.MaxEntries)
		}
		if err := f.apply(hdr, tr); err != nil {
			return err
		}
	}
}

// apply adds one tar entry to the tree.
func (f *flattener) apply(hdr *tar.Header, tr io.Reader) error {
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if done, err := f.special(rel, hdr); done || err != nil {
		return err
	}
	if hdr.Size < 0 || hdr.Size > f.lim.MaxFileBytes {
		return fmt.Errorf("%w: /%s is %d bytes, over the %d-byte limit per file", ErrUnsafeLayer, rel, hdr.Size, f.lim.MaxFileBytes)
	}
	if f.total+hdr.Size > f.lim.MaxTotalBytes {
		return fmt.Errorf("%w: image content exceeds the %d-byte limit", ErrUnsafeLayer, f.lim.MaxTotalBytes)
	}
	ok, err := f.parents(rel, true)
	if err != nil {
		return err
	}
	if !ok {
		f.note("skipped /%s: a parent is a symlink or not a directory", rel)
		return nil
	}
	keptDir, err := f.makeRoom(rel, hdr)
	if err != nil {
		return err
	}
	f.layer[rel] = true
	return f.create(rel, hdr, tr, keptDir)
}

// special handles the entries that add nothing at rel: global headers,
// devices, unsupported types (skipped with a note), the root itself and
// whiteouts. It reports whether hdr was one of them.
func (f *flattener) special(rel string, hdr *tar.Header) (bool, error) {
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return true, nil
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		f.note("skipped device/fifo /%s", rel)
		return true, nil
	case tar.TypeDir, tar.TypeReg, tar.TypeRegA, tar.TypeSymlink, tar.TypeLink:
	default:
		f.note("skipped /%s of unsupported type %q", rel, hdr.Typeflag)
		return true, nil
	}
	if rel == "" {
		if hdr.Typeflag == tar.TypeDir {
			return true, f.attrs(rel, hdr)
		}
		return true, fmt.Errorf("%w: non-directory entry for the root", ErrUnsafeLayer)
	}
	if strings.HasPrefix(path.Base(rel), ".wh.") {
		return true, f.whiteout(rel)
	}
	return false, nil
}

// makeRoom removes anything in the way of hdr at rel, except a directory
// where a directory goes. It reports whether such a directory was kept.
func (f *flattener) makeRoom(rel string, hdr *tar.Header) (keptDir bool, err error) {
	existing, err := f.root.Lstat(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checking /%s: %w", rel, err)
	}
	if hdr.Typeflag == tar.TypeDir && existing.IsDir() {
		return true, nil
	}
	if err := f.root.RemoveAll(rel); err != nil {
		return false, fmt.Errorf("replacing /%s: %w", rel, err)
	}
	return false, nil
}

// create makes the directory, file, symlink or hard link hdr describes at
// rel (a directory is already there when keptDir).
func (f *flattener) create(rel string, hdr *tar.Header, tr io.Reader, keptDir bool) error {
	switch hdr.Typeflag {
	case tar.TypeDir:
		if !keptDir {
			if err := f.root.Mkdir(rel, 0o700); err != nil {
				return fmt.Errorf("creating /%s: %w", rel, err)
			}
		}
	case tar.TypeReg, tar.TypeRegA:
		if err := f.writeRegular(rel, hdr, tr); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if hdr.Linkname == "" || len(hdr.Linkname) > maxPathLen || strings.ContainsRune(hdr.Linkname, 0) {
			return fmt.Errorf("%w: symlink /%s has a bad target", ErrUnsafeLayer, rel)
		}
		// The target is stored verbatim and never followed by banger; in the
		// guest it resolves inside the guest's own root.
		if err := f.root.Symlink(hdr.Linkname, rel); err != nil {
			return fmt.Errorf("creating symlink /%s: %w", rel, err)
		}
	case tar.TypeLink:
		return f.hardlink(rel, hdr)
	default:
		return nil
	}
	return f.attrs(rel, hdr)
}

// writeRegular writes the file's hdr.Size bytes from tr to rel.
func (f *flattener) writeRegular(rel string, hdr *tar.Header, tr io.Reader) error {
	out, err := f.root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("creating /%s: %w", rel, err)
	}
	n, err := io.Copy(out, io.LimitReader(tr, hdr.Size))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != hdr.Size {
		err = fmt.Errorf("layer ended %d bytes into a %d-byte file", n, hdr.Size)
	}
	if err != nil {
		return fmt.Errorf("writing /%s: %w", rel, err)
	}
	f.total += n
	return nil
}

// hardlink links rel to an existing regular file inside the root.
func (f *flattener) hardlink(rel string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hard link /%s: %w", rel, err)
	}
	if target == "" || target == rel {
		return fmt.Errorf("%w: hard link /%s to %q", ErrUnsafeLayer, rel, hdr.Linkname)
	}
	ok, err := f.parents(target, false)
	if err != nil {
		return err
	}
	fi, lerr := f.root.Lstat(target)
	if !ok || lerr != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: hard link /%s points to %q, which is not a regular file inside the image", ErrUnsafeLayer, rel, hdr.Linkname)
	}
	if err := f.root.Link(target, rel); err != nil {
		return fmt.Errorf("hard link /%s: %w", rel, err)
	}
	return nil
}

// attrs sets owner, then mode (chown clears setuid/setgid), then mtime.
func (f *flattener) attrs(rel string, hdr *tar.Header) error {
	name := rootName(rel)
	if f.chown {
		uid, gid := hdr.Uid, hdr.Gid
		if uid < 0 || uid > 1<<31 || gid < 0 || gid > 1<<31 {
			f.note("/%s: out-of-range owner %d:%d replaced by 0:0", rel, uid, gid)
			uid, gid = 0, 0
		}
		if err := f.root.Lchown(name, uid, gid); err != nil {
			return fmt.Errorf("chown /%s: %w", rel, err)
		}
	}
	if hdr.Typeflag == tar.TypeSymlink {
		ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
		// The parents were checked to be real directories, so this full
		// path does not traverse a symlink; the last component is not
		// followed.
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(f.dir, rel), ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			f.note("/%s: could not set symlink mtime: %v", rel, err)
		}
		return nil
	}
	mode := fs.FileMode(hdr.Mode).Perm()
	if hdr.Mode&04000 != 0 {
		mode |= fs.ModeSetuid
	}
	if hdr.Mode&02000 != 0 {
		mode |= fs.ModeSetgid
	}
	if hdr.Mode&01000 != 0 {
		mode |= fs.ModeSticky
	}
	if err := f.root.Chmod(name, mode); err != nil {
		return fmt.Errorf("chmod /%s: %w", rel, err)
	}
	if hdr.Typeflag == tar.TypeDir {
		f.dirTimes[rel] = hdr.ModTime // set last: later entries change it
		return nil
	}
	if err := f.root.Chtimes(name, hdr.ModTime, hdr.ModTime); err != nil {
		return fmt.Errorf("setting mtime of /%s: %w", rel, err)
	}
	return nil
}

// whiteout handles ".wh.<name>" (delete name from lower layers) and
// ".wh..wh..opq" (hide everything lower layers put in the directory).
func (f *flattener) whiteout(rel string) error {
	dir, base := path.Dir(rel), path.Base(rel)
	if dir == "." {
		dir = ""
	}
	ok, err := f.parents(rel, false)
	if err != nil || !ok {
		return err // nothing below a symlink or missing dir to hide
	}
	if base == ".wh..wh..opq" {
		return f.clearLower(dir)
	}
	victim := strings.TrimPrefix(base, ".wh.")
	if victim == "" || victim == "." || victim == ".." || strings.HasPrefix(victim, ".wh.") {
		return fmt.Errorf("%w: bad whiteout %q", ErrUnsafeLayer, rel)
	}
	target := path.Join(dir, victim)
	if f.layer[target] {
		return nil // whiteouts only hide lower layers
	}
	if err := f.root.RemoveAll(target); err != nil {
		return fmt.Errorf("whiteout /%s: %w", target, err)
	}
	return nil
}

// clearLower removes everything under dir that the current layer did not
// write. dir is a verified real directory (or the root).
func (f *flattener) clearLower(dir string) error {
	d, err := f.root.Open(rootName(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opaque /%s: %w", dir, err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("opaque /%s: %w", dir, err)
	}
	for _, e := range entries {
		p := path.Join(dir, e.Name())
		if !f.layer[p] {
			if err := f.root.RemoveAll(p); err != nil {
				return fmt.Errorf("opaque /%s: %w", dir, err)
			}
			continue
		}
		if e.Type().IsDir() {
			if err := f.clearLower(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish sets directory mtimes, deepest first, now that nothing more is
// written into them.
func (f *flattener) finish() error {
	dirs := make([]string, 0, len(f.dirTimes))
	for d := range f.dirTimes {
		dirs = append(dirs, d)
	}
	sort.Slice(dirs, func(i, j int) bool { return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/") })
	for _, d := range dirs {
		fi, err := f.root.Lstat(rootName(d))
		if err != nil || !fi.IsDir() {
			continue // removed by a later whiteout
		}
		t := f.dirTimes[d]
		if err := f.root.Chtimes(rootName(d), t, t); err != nil {
			return fmt.Errorf("setting mtime of /%s: %w", d, err)
		}
	}
	return nil
}
