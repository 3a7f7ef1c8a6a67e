package oci

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// baseDirs are the directories the agent as PID 1 mounts on or writes to,
// and the kernel needs /dev to open the console before init runs. Container
// images often lack some (a busybox-only rootfs has none of them).
var baseDirs = []struct {
	name string
	mode fs.FileMode
}{
	{"dev", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"run", 0o755},
	{"tmp", 0o777 | fs.ModeSticky}, {"root", 0o700}, {"etc", 0o755},
}

// baseFiles are written only where the image has none: the shell and the
// tools in it expect a root user and group.
var baseFiles = []struct{ name, body string }{
	{"etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"},
	{"etc/group", "root:x:0:\n"},
}

// ensureBaseLayout creates what the agent needs to boot the image as PID 1
// and is missing. What exists (a directory, a file, or a symlink such as
// /tmp -> /var/tmp) is left as it is. rootfs.Customize has written
// /etc/hosts, /etc/hostname and /etc/resolv.conf already.
func ensureBaseLayout(root *os.Root) error {
	for _, d := range baseDirs {
		if _, err := root.Lstat(d.name); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := root.Mkdir(d.name, d.mode.Perm()); err != nil {
			return fmt.Errorf("creating /%s: %w", d.name, err)
		}
		// Chmod: the umask narrowed Mkdir's mode, and only Chmod sets the
		// sticky bit.
		if err := root.Chmod(d.name, d.mode); err != nil {
			return fmt.Errorf("setting the mode of /%s: %w", d.name, err)
		}
	}
	for _, f := range baseFiles {
		if _, err := root.Lstat(f.name); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := writeFile(root, f.name, 0o644, []byte(f.body)); err != nil {
			return err
		}
	}
	return nil
}
