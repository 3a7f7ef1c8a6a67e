package golden

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"syscall"
)

//go:embed files
var files embed.FS

// maskedUnits are units a throwaway VM does not need; masking them keeps boot
// fast. Masking a unit that is not installed is harmless.
var maskedUnits = []string{
	"apt-daily.timer",
	"apt-daily-upgrade.timer",
	"man-db.timer",
	"e2scrub_all.timer",
	"e2scrub_reap.service",
	"fstrim.timer",
	"systemd-networkd-wait-online.service",
	"getty@tty1.service",
}

// enabledUnits are linked into multi-user.target.wants; the value is the
// unit file's path inside the image.
var enabledUnits = []struct{ name, path string }{
	{"banger-agent.service", "/etc/systemd/system/banger-agent.service"},
	{"banger-net.service", "/etc/systemd/system/banger-net.service"},
	{"banger-hostkeys.service", "/etc/systemd/system/banger-hostkeys.service"},
	{"ssh.service", "/lib/systemd/system/ssh.service"},
}

// customize turns a debootstrapped tree at rootfs into a banger image: it
// installs the agent and its units, configures SSH, fstab and identity files,
// masks slow units and drops caches. It works on any directory, so it runs
// without debootstrap in tests. All paths are resolved inside rootfs.
func customize(rootfs, agentBinary string) error {
	root, err := os.OpenRoot(rootfs)
	if err != nil {
		return fmt.Errorf("opening rootfs: %w", err)
	}
	defer root.Close()

	agent, err := os.Open(agentBinary)
	if err != nil {
		return fmt.Errorf("opening agent binary: %w", err)
	}
	defer agent.Close()
	if err := writeInRoot(root, "usr/local/bin/banger-agent", 0o755, agent); err != nil {
		return fmt.Errorf("installing banger-agent: %w", err)
	}

	for _, f := range []struct{ src, dst string }{
		{"banger-agent.service", "etc/systemd/system/banger-agent.service"},
		{"banger-net.service", "etc/systemd/system/banger-net.service"},
		{"banger-hostkeys.service", "etc/systemd/system/banger-hostkeys.service"},
		{"sshd-banger.conf", "etc/ssh/sshd_config.d/banger.conf"},
		{"ssh-after-root.conf", "etc/systemd/system/ssh.service.d/banger.conf"},
		{"fstab", "etc/fstab"},
		{"hosts", "etc/hosts"},
		{"resolv.conf", "etc/resolv.conf"},
		{"initramfs-modules", "etc/initramfs-tools/modules"},
		{"modules-vsock.conf", "etc/modules-load.d/banger-vsock.conf"},
	} {
		if err := installEmbedded(root, f.src, f.dst, 0o644); err != nil {
			return err
		}
	}
	if err := writeInRoot(root, "etc/hostname", 0o644, strings.NewReader("banger\n")); err != nil {
		return fmt.Errorf("writing hostname: %w", err)
	}
	// An empty machine-id makes systemd generate a fresh one on each VM's
	// first boot.
	if err := writeInRoot(root, "etc/machine-id", 0o444, strings.NewReader("")); err != nil {
		return fmt.Errorf("emptying machine-id: %w", err)
	}
	// debootstrap leaves the build's id in dbus's copy; point it at the
	// per-VM one instead.
	if err := removeIfRegular(root, "var/lib/dbus/machine-id"); err != nil {
		return err
	}
	if _, err := root.Lstat("var/lib/dbus"); err == nil {
		if err := symlinkInRoot(root, "/etc/machine-id", "var/lib/dbus/machine-id"); err != nil {
			return fmt.Errorf("linking dbus machine-id: %w", err)
		}
	}

	for _, u := range enabledUnits {
		if err := symlinkInRoot(root, u.path, "etc/systemd/system/multi-user.target.wants/"+u.name); err != nil {
			return fmt.Errorf("enabling %s: %w", u.name, err)
		}
	}
	for _, u := range maskedUnits {
		if err := symlinkInRoot(root, "/dev/null", "etc/systemd/system/"+u); err != nil {
			return fmt.Errorf("masking %s: %w", u, err)
		}
	}
	if err := removeMatching(root, "etc/systemd/system/getty.target.wants", func(n string) bool {
		return n == "getty@tty1.service"
	}); err != nil {
		return err
	}

	// Each VM generates its own host keys on first boot (banger-hostkeys).
	if err := removeMatching(root, "etc/ssh", func(n string) bool {
		return strings.HasPrefix(n, "ssh_host_")
	}); err != nil {
		return err
	}
	if err := lockRootPassword(root); err != nil {
		return err
	}
	if err := removeMatching(root, "var/cache/apt/archives", func(n string) bool {
		return strings.HasSuffix(n, ".deb")
	}); err != nil {
		return err
	}
	if err := removeMatching(root, "var/lib/apt/lists", func(n string) bool {
		return n != "partial" && n != "lock"
	}); err != nil {
		return err
	}
	return nil
}

// installEmbedded copies files/<src> to dst inside root.
func installEmbedded(root *os.Root, src, dst string, mode os.FileMode) error {
	data, err := files.ReadFile("files/" + src)
	if err != nil {
		return fmt.Errorf("reading embedded %s: %w", src, err)
	}
	if err := writeInRoot(root, dst, mode, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("installing /%s: %w", dst, err)
	}
	return nil
}

// writeInRoot atomically writes r to name inside root (temp file + rename,
// so an existing symlink at name is replaced, never followed). An existing
// file's owner is kept; mode is set as given.
func writeInRoot(root *os.Root, name string, mode os.FileMode, r io.Reader) error {
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
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW, mode)
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

// symlinkInRoot makes name inside root a symlink to target, replacing
// whatever was there (a directory is an error).
func symlinkInRoot(root *os.Root, target, name string) error {
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

// lockRootPassword sets root's password hash in /etc/shadow to "!*": no
// password can ever match, so root logs in by SSH key only.
func lockRootPassword(root *os.Root) error {
	data, err := root.ReadFile("etc/shadow")
	if err != nil {
		return fmt.Errorf("reading /etc/shadow: %w", err)
	}
	fi, err := root.Lstat("etc/shadow")
	if err != nil {
		return fmt.Errorf("checking /etc/shadow: %w", err)
	}
	locked, err := lockShadowRoot(data)
	if err != nil {
		return err
	}
	if err := writeInRoot(root, "etc/shadow", fi.Mode().Perm(), bytes.NewReader(locked)); err != nil {
		return fmt.Errorf("writing /etc/shadow: %w", err)
	}
	return nil
}

// lockShadowRoot returns shadow with root's password field set to "!*".
func lockShadowRoot(shadow []byte) ([]byte, error) {
	lines := strings.SplitAfter(string(shadow), "\n")
	found := false
	for i, l := range lines {
		fields := strings.Split(strings.TrimRight(l, "\n"), ":")
		if len(fields) < 2 || fields[0] != "root" {
			continue
		}
		fields[1] = "!*"
		nl := ""
		if strings.HasSuffix(l, "\n") {
			nl = "\n"
		}
		lines[i] = strings.Join(fields, ":") + nl
		found = true
	}
	if !found {
		return nil, errors.New("no root entry in /etc/shadow")
	}
	return []byte(strings.Join(lines, "")), nil
}
