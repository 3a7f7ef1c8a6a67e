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

//go:embed files/banger-init
var initScript []byte

// InitPath is where the first-boot init is installed inside the image.
const InitPath = "/sbin/banger-init"

// sshdAfterRoot orders sshd after the /root work disk, as golden does for
// Debian's ssh.service; this covers distributions naming it sshd.service.
const sshdAfterRoot = "# Installed by banger: root's authorized key lives on the work disk.\n[Unit]\nAfter=root.mount\n"

// inject makes the flattened tree at dir bootable by banger. It returns the
// init path the kernel must run ("" when the image boots systemd directly).
func inject(dir, agentBinary string) (string, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", fmt.Errorf("opening rootfs tree: %w", err)
	}
	defer root.Close()

	// rootfs.Customize locks root's password in /etc/shadow; minimal
	// images may have none.
	if _, err := root.Lstat("etc/shadow"); errors.Is(err, fs.ErrNotExist) {
		if err := writeFile(root, "etc/shadow", 0o640, []byte("root:!*:19000:0:99999:7:::\n")); err != nil {
			return "", err
		}
	}
	if err := ensureDir(root, "etc/ssh/sshd_config.d"); err != nil {
		return "", err
	}
	if err := rootfs.Customize(dir, agentBinary); err != nil {
		return "", fmt.Errorf("customizing rootfs: %w", err)
	}
	if err := writeFile(root, "etc/systemd/system/sshd.service.d/banger.conf", 0o644, []byte(sshdAfterRoot)); err != nil {
		return "", err
	}
	if err := symlink(root, "/usr/lib/systemd/system/sshd.service", "etc/systemd/system/multi-user.target.wants/sshd.service"); err != nil {
		return "", err
	}
	if err := includeDropIns(root); err != nil {
		return "", err
	}

	if hasSystemd(root) && hasSSHD(root) {
		return "", nil
	}
	if fi, ok := lookup(root, "bin/sh"); !ok || !fi.Mode().IsRegular() {
		return "", errors.New("the image has neither systemd nor a /bin/sh to install it with; banger cannot boot it")
	}
	if err := writeFile(root, "sbin/banger-init", 0o755, initScript); err != nil {
		return "", err
	}
	return InitPath, nil
}

// hasSystemd reports whether systemd's PID 1 binary exists.
func hasSystemd(root *os.Root) bool {
	return isExecutable(root, "usr/lib/systemd/systemd") || isExecutable(root, "lib/systemd/systemd")
}

func hasSSHD(root *os.Root) bool {
	return isExecutable(root, "usr/sbin/sshd") || isExecutable(root, "sbin/sshd")
}

func isExecutable(root *os.Root, name string) bool {
	fi, ok := lookup(root, name)
	return ok && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// lookup stats name the way the guest would see it: symlinks are followed
// with the tree as "/" (absolute targets and ".." stay inside it), so
// /bin/sh -> /bin/busybox resolves. It only reads.
func lookup(root *os.Root, name string) (fs.FileInfo, bool) {
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
			return nil, false
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return nil, false
		}
		t, err := root.Readlink(next)
		if err != nil {
			return nil, false
		}
		if strings.HasPrefix(t, "/") {
			cur = ""
		}
		comps = append(strings.Split(t, "/"), comps...)
	}
	fi, err := root.Lstat(rootName(cur))
	return fi, err == nil
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
