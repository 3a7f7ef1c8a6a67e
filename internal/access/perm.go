package access

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// ErrUnsafe marks a socket or directory that someone other than root and
// the user could have put there or could replace.
var ErrUnsafe = errors.New("unsafe")

// Trusted is who may own the daemon's socket and its directories for a
// process running as euid: root and euid itself.
func Trusted(euid int) func(uid int) bool {
	return func(uid int) bool { return uid == 0 || uid == euid }
}

// CheckDir checks the directory that holds the daemon's socket: it is a
// real directory (not a symlink), owned by a trusted uid, and writable by
// nobody else; and so is every directory above it, except that a
// world-writable one with the sticky bit (/tmp) is allowed above it.
func CheckDir(dir string, trusted func(int) bool) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		dest, _ := os.Readlink(dir)
		return fmt.Errorf("%w: socket directory %s is a symlink (to %s), which anyone who can write its parent may point elsewhere; "+
			"remove the link or set runtime_dir to a real directory", ErrUnsafe, dir, dest)
	}
	if !st.IsDir() {
		return fmt.Errorf("%w: socket directory %s is a %s, not a directory; remove it", ErrUnsafe, dir, kind(st.Mode()))
	}
	if err := checkOwnerMode(dir, st, trusted, false); err != nil {
		return err
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(dir))
	if err != nil {
		return fmt.Errorf("socket directory %s: %w", dir, err)
	}
	for p := parent; ; p = filepath.Dir(p) {
		st, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("socket directory %s: %w", dir, err)
		}
		if err := checkOwnerMode(p, st, trusted, true); err != nil {
			return fmt.Errorf("socket directory %s: %w", dir, err)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// checkOwnerMode refuses a directory owned by an untrusted uid or writable
// by group or others (unless sticky, when stickyOK).
func checkOwnerMode(p string, st fs.FileInfo, trusted func(int) bool, stickyOK bool) error {
	uid := owner(st)
	if !trusted(uid) {
		return fmt.Errorf("%w: %s is owned by uid %d, who could replace the socket in it; "+
			"it must belong to root or to you: remove it (as root) or set runtime_dir elsewhere", ErrUnsafe, p, uid)
	}
	if st.Mode().Perm()&0o022 != 0 && !(stickyOK && st.Mode()&fs.ModeSticky != 0) {
		return fmt.Errorf("%w: %s is writable by its group or by everyone (mode %04o), so others could replace the socket; "+
			"run `chmod go-w %s`", ErrUnsafe, p, st.Mode().Perm(), p)
	}
	return nil
}

// CheckSocket checks the daemon's socket and its directory: a real socket
// (not a symlink), owned by a trusted uid, and not open to everyone.
func CheckSocket(path string, trusted func(int) bool) error {
	if err := CheckDir(filepath.Dir(path), trusted); err != nil {
		return err
	}
	st, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	if st.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("%w: socket %s is a symlink; only bangerd may create it: remove the link", ErrUnsafe, path)
	}
	if st.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("%w: %s is a %s, not bangerd's socket; remove it", ErrUnsafe, path, kind(st.Mode()))
	}
	if uid := owner(st); !trusted(uid) {
		return fmt.Errorf("%w: socket %s is owned by uid %d, not by root or you, so it is not your bangerd; "+
			"stop that process and remove the socket (as root)", ErrUnsafe, path, uid)
	}
	if st.Mode().Perm()&0o007 != 0 {
		return fmt.Errorf("%w: socket %s is open to everyone (mode %04o); bangerd makes it 0600, or 0660 for the %q group: "+
			"restart bangerd, or run `chmod o-rwx %s`", ErrUnsafe, path, st.Mode().Perm(), Group, path)
	}
	return nil
}

func owner(st fs.FileInfo) int {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(s.Uid)
	}
	return -1
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "regular file"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeDevice != 0:
		return "device"
	case m.IsDir():
		return "directory"
	}
	return "special file"
}
