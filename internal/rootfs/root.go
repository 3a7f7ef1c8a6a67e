package rootfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"syscall"
)

// WriteFile atomically writes r to name inside root: through a temp file
// and a rename, so an existing symlink at name is replaced, never followed.
// Missing parent directories are made. An existing regular file's owner is
// kept (a new file belongs to root when running as root); mode is set as
// given.
func WriteFile(root *os.Root, name string, mode os.FileMode, r io.Reader) error {
	dir := path.Dir(name)
	if err := root.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	uid, gid := 0, 0
	if fi, err := root.Lstat(name); err == nil && fi.Mode().IsRegular() {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	tmp := path.Join(dir, "."+path.Base(name)+".banger-tmp")
	root.Remove(tmp) // a leftover, or a planted symlink
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil && os.Geteuid() == 0 {
		err = f.Chown(uid, gid)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		root.Remove(tmp)
	}
	return err
}

// Symlink makes name inside root a symlink to target, replacing whatever
// was there (a directory is an error). Missing parent directories are made.
func Symlink(root *os.Root, target, name string) error {
	if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	if fi, err := root.Lstat(name); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("/%s is a directory", name)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			if cur, err := root.Readlink(name); err == nil && cur == target {
				return nil
			}
		}
		if err := root.Remove(name); err != nil {
			return err
		}
	}
	return root.Symlink(target, name)
}

// removeMatching removes the non-directory entries of dir (inside root) whose
// names match; a missing dir is fine.
func removeMatching(root *os.Root, dir string, match func(string) bool) error {
	d, err := root.Open(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening /%s: %w", dir, err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("reading /%s: %w", dir, err)
	}
	for _, e := range entries {
		if e.IsDir() || !match(e.Name()) {
			continue
		}
		if err := root.Remove(path.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("removing /%s/%s: %w", dir, e.Name(), err)
		}
	}
	return nil
}

// removeIfRegular removes name if it is a regular file (not a symlink).
func removeIfRegular(root *os.Root, name string) error {
	fi, err := root.Lstat(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking /%s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	if err := root.Remove(name); err != nil {
		return fmt.Errorf("removing /%s: %w", name, err)
	}
	return nil
}
