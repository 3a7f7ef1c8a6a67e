package oci

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"banger/internal/rootfs"
)

// AgentInit and InitRecord: see package rootfs.
const (
	AgentInit  = rootfs.AgentInit
	InitRecord = rootfs.InitRecord
)

// inject makes the flattened tree at dir bootable by banger. It returns the
// init path the kernel must run ("" when the image boots systemd through
// /sbin/init), and notes on what the image lacks.
func inject(dir, agentBinary string) (init string, notes []string, err error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", nil, fmt.Errorf("opening rootfs tree: %w", err)
	}
	defer root.Close()

	// rootfs.Customize locks root's password in /etc/shadow; minimal
	// images may have none.
	if _, err := root.Lstat("etc/shadow"); errors.Is(err, fs.ErrNotExist) {
		if err := writeFile(root, "etc/shadow", 0o640, []byte("root:!*:19000:0:99999:7:::\n")); err != nil {
			return "", nil, err
		}
	}
	if err := ensureDir(root, "etc/ssh/sshd_config.d"); err != nil {
		return "", nil, err
	}
	if err := rootfs.Customize(dir, agentBinary); err != nil {
		return "", nil, fmt.Errorf("customizing rootfs: %w", err)
	}
	if err := symlink(root, "/usr/lib/systemd/system/sshd.service", "etc/systemd/system/multi-user.target.wants/sshd.service"); err != nil {
		return "", nil, err
	}
	if err := includeDropIns(root); err != nil {
		return "", nil, err
	}
	if err := ensureBaseLayout(root); err != nil {
		return "", nil, err
	}
	if fi, ok := lookup(root, "bin/sh"); !ok || !fi.Mode().IsRegular() {
		notes = append(notes, "the image has no /bin/sh: it boots, but the commands banger runs in it (vm run, vm exec) need one")
	}
	return recordInit(root, notes)
}

// recordInit decides how the image boots and records it in InitRecord.
func recordInit(root *os.Root, notes []string) (string, []string, error) {
	if bootsSystemd(root) {
		// A re-import of an image that booted the agent.
		if err := root.Remove(rootName(strings.TrimPrefix(InitRecord, "/"))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", nil, fmt.Errorf("removing %s: %w", InitRecord, err)
		}
		return "", notes, nil
	}
	if err := rootfs.RecordAgentInit(root); err != nil {
		return "", nil, err
	}
	return AgentInit, notes, nil
}

// bootsSystemd reports whether the image's /sbin/init is systemd (as
// systemd-sysv makes it). Any other image, with no init or another one
// (busybox, OpenRC), boots the agent as PID 1.
func bootsSystemd(root *os.Root) bool {
	name, fi, ok := resolvePath(root, "sbin/init")
	if !ok || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return false
	}
	return name == "usr/lib/systemd/systemd" || name == "lib/systemd/systemd"
}

// lookup stats name the way the guest would see it: symlinks are followed
// with the tree as "/" (absolute targets and ".." stay inside it), so
// /bin/sh -> /bin/busybox resolves. It only reads.
func lookup(root *os.Root, name string) (fs.FileInfo, bool) {
	_, fi, ok := resolvePath(root, name)
	return fi, ok
}

// resolvePath is lookup that also returns the resolved name (relative to the
// tree, without symlinks).
func resolvePath(root *os.Root, name string) (string, fs.FileInfo, bool) {
	comps := strings.Split(name, "/")
	cur := ""
	for hops := 0; len(comps) > 0; {
		c := comps[0]
		comps = comps[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if cur = path.Dir(cur); cur == "." {
				cur = ""
			}
			continue
		}
		next := path.Join(cur, c)
		fi, err := root.Lstat(next)
		if err != nil {
			return "", nil, false
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", nil, false
		}
		t, err := root.Readlink(next)
		if err != nil {
			return "", nil, false
		}
		if strings.HasPrefix(t, "/") {
			cur = ""
		}
		comps = append(strings.Split(t, "/"), comps...)
	}
	fi, err := root.Lstat(rootName(cur))
	return cur, fi, err == nil
}

// includeDropIns makes an existing sshd_config read sshd_config.d (older or
// minimal configs lack the Include line).
func includeDropIns(root *os.Root) error {
	fi, err := root.Lstat("etc/ssh/sshd_config")
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	data, err := root.ReadFile("etc/ssh/sshd_config")
	if err != nil {
		return fmt.Errorf("reading sshd_config: %w", err)
	}
	if strings.Contains(string(data), "sshd_config.d/") {
		return nil
	}
	data = append([]byte("Include /etc/ssh/sshd_config.d/*.conf\n"), data...)
	return writeFile(root, "etc/ssh/sshd_config", fi.Mode().Perm(), data)
}

func ensureDir(root *os.Root, name string) error {
	if err := root.MkdirAll(name, 0o755); err != nil {
		return fmt.Errorf("creating /%s: %w", name, err)
	}
	return nil
}

// writeFile writes data to name inside root (rootfs.WriteFile: a symlink
// at name is replaced rather than followed).
func writeFile(root *os.Root, name string, mode fs.FileMode, data []byte) error {
	if err := rootfs.WriteFile(root, name, mode, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("writing /%s: %w", name, err)
	}
	return nil
}

// symlink makes name a symlink to target, replacing a non-directory.
func symlink(root *os.Root, target, name string) error {
	if err := rootfs.Symlink(root, target, name); err != nil {
		return fmt.Errorf("linking /%s: %w", name, err)
	}
	return nil
}
