// Package rootfs turns an unpacked root filesystem tree into a banger image:
// the guest agent and its units, sshd drop-ins, fstab, identity files, masked
// units and dropped caches. The Debian builder (image/golden) and the OCI
// import (image/oci) both run it. Every path is resolved inside the tree, so
// symlinks in it are never followed out.
package rootfs

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"strings"
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

// enabledUnits are linked into <target>.wants; path is the unit file's path
// inside the image. The agent and the work disk come early (basic.target,
// local-fs.target), so nothing they need waits for multi-user.target.
var enabledUnits = []struct{ name, path, target string }{
	{"banger-work.service", "/etc/systemd/system/banger-work.service", "local-fs.target"},
	{"banger-agent.service", "/etc/systemd/system/banger-agent.service", "basic.target"},
	{"banger-net.service", "/etc/systemd/system/banger-net.service", "multi-user.target"},
	{"banger-hostkeys.service", "/etc/systemd/system/banger-hostkeys.service", "multi-user.target"},
	{"ssh.service", "/lib/systemd/system/ssh.service", "multi-user.target"},
}

// embeddedFiles are copied from files/<src> to dst inside the tree.
var embeddedFiles = []struct{ src, dst string }{
	{"banger-agent.service", "etc/systemd/system/banger-agent.service"},
	{"banger-work.service", "etc/systemd/system/banger-work.service"},
	{"banger-net.service", "etc/systemd/system/banger-net.service"},
	{"banger-hostkeys.service", "etc/systemd/system/banger-hostkeys.service"},
	{"sshd-banger.conf", "etc/ssh/sshd_config.d/banger.conf"},
	{"ssh-after-root.conf", "etc/systemd/system/ssh.service.d/banger.conf"},
	{"ssh-after-root.conf", "etc/systemd/system/sshd.service.d/banger.conf"},
	{"fstab", "etc/fstab"},
	{"hosts", "etc/hosts"},
	{"resolv.conf", "etc/resolv.conf"},
	{"initramfs-modules", "etc/initramfs-tools/modules"},
	{"modules-vsock.conf", "etc/modules-load.d/banger-vsock.conf"},
}

// Customize turns the unpacked root filesystem tree at dir into a banger
// image in place: it installs the agent binary and its units, the network
// and host-key units, the sshd drop-ins, fstab, hosts and identity files,
// masks slow units and drops package caches. The tree must contain
// /etc/shadow. Running it twice gives the same tree.
func Customize(dir, agentBinary string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("opening rootfs: %w", err)
	}
	defer root.Close()
	for _, step := range []func(*os.Root) error{
		func(root *os.Root) error { return installAgent(root, agentBinary) },
		installEmbedded,
		resetIdentity,
		setUnits,
		dropSecretsAndCaches,
	} {
		if err := step(root); err != nil {
			return err
		}
	}
	return nil
}

func installAgent(root *os.Root, agentBinary string) error {
	agent, err := os.Open(agentBinary)
	if err != nil {
		return fmt.Errorf("opening agent binary: %w", err)
	}
	defer agent.Close()
	if err := WriteFile(root, "usr/local/bin/banger-agent", 0o755, agent); err != nil {
		return fmt.Errorf("installing banger-agent: %w", err)
	}
	return nil
}

// installEmbedded copies the embedded files into the tree.
func installEmbedded(root *os.Root) error {
	for _, f := range embeddedFiles {
		if err := installFile(root, f.src, f.dst); err != nil {
			return err
		}
	}
	return nil
}

// installFile copies files/<src> to dst inside root.
func installFile(root *os.Root, src, dst string) error {
	data, err := files.ReadFile("files/" + src)
	if err != nil {
		return fmt.Errorf("reading embedded %s: %w", src, err)
	}
	if err := WriteFile(root, dst, 0o644, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("installing /%s: %w", dst, err)
	}
	return nil
}

// resetIdentity names the host "banger" and empties the machine id, so
// that systemd generates a fresh one on each VM's first boot.
func resetIdentity(root *os.Root) error {
	if err := WriteFile(root, "etc/hostname", 0o644, strings.NewReader("banger\n")); err != nil {
		return fmt.Errorf("writing hostname: %w", err)
	}
	if err := WriteFile(root, "etc/machine-id", 0o444, strings.NewReader("")); err != nil {
		return fmt.Errorf("emptying machine-id: %w", err)
	}
	// debootstrap leaves the build's id in dbus's copy; point it at the
	// per-VM one instead.
	if err := removeIfRegular(root, "var/lib/dbus/machine-id"); err != nil {
		return err
	}
	if _, err := root.Lstat("var/lib/dbus"); err == nil {
		if err := Symlink(root, "/etc/machine-id", "var/lib/dbus/machine-id"); err != nil {
			return fmt.Errorf("linking dbus machine-id: %w", err)
		}
	}
	return nil
}

// setUnits enables banger's units and ssh, and masks the slow ones.
func setUnits(root *os.Root) error {
	for _, u := range enabledUnits {
		if err := Symlink(root, u.path, "etc/systemd/system/"+u.target+".wants/"+u.name); err != nil {
			return fmt.Errorf("enabling %s: %w", u.name, err)
		}
	}
	for _, u := range maskedUnits {
		if err := Symlink(root, "/dev/null", "etc/systemd/system/"+u); err != nil {
			return fmt.Errorf("masking %s: %w", u, err)
		}
	}
	return removeMatching(root, "etc/systemd/system/getty.target.wants", func(n string) bool {
		return n == "getty@tty1.service"
	})
}

// dropSecretsAndCaches removes the build's SSH host keys (each VM generates
// its own on first boot, banger-hostkeys), locks root's password and drops
// the package caches.
func dropSecretsAndCaches(root *os.Root) error {
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
	return removeMatching(root, "var/lib/apt/lists", func(n string) bool {
		return n != "partial" && n != "lock"
	})
}
