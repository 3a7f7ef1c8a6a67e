// Package rootfstest provides root filesystem trees for tests.
package rootfstest

import (
	"os"
	"path/filepath"
	"testing"
)

// Debian lays out at dir the parts of a debootstrapped tree that
// rootfs.Customize touches.
func Debian(t testing.TB, dir string) {
	t.Helper()
	files := map[string]string{
		"etc/shadow":                     "root:*:20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\n",
		"etc/hostname":                   "buildhost\n",
		"etc/machine-id":                 "0123456789abcdef0123456789abcdef\n",
		"var/lib/dbus/machine-id":        "0123456789abcdef0123456789abcdef\n",
		"etc/ssh/sshd_config":            "Include /etc/ssh/sshd_config.d/*.conf\n",
		"etc/ssh/ssh_host_ed25519_key":   "secret",
		"etc/ssh/ssh_host_rsa_key.pub":   "pub",
		"etc/ssh/moduli":                 "moduli",
		"var/cache/apt/archives/a_1.deb": "deb",
		"var/cache/apt/archives/lock":    "",
		"var/lib/apt/lists/deb_Packages": "list",
		"var/lib/apt/lists/lock":         "",
		"boot/vmlinuz-6.1.0-test":        "kernel",
		"boot/initrd.img-6.1.0-test":     "initrd",
		// The modules banger's initramfs takes (rootfs.InitramfsModules),
		// virtio_blk with a dependency, and ext4 built in.
		"lib/modules/6.1.0-test/modules.dep": "kernel/drivers/virtio/virtio.ko:\n" +
			"kernel/drivers/virtio/virtio_mmio.ko: kernel/drivers/virtio/virtio.ko\n" +
			"kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko\n" +
			"kernel/drivers/net/virtio_net.ko: kernel/drivers/virtio/virtio.ko\n" +
			"kernel/drivers/char/virtio_console.ko: kernel/drivers/virtio/virtio.ko\n" +
			"kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko: kernel/drivers/virtio/virtio.ko\n" +
			"kernel/drivers/acpi/button.ko:\nkernel/drivers/input/evdev.ko:\n",
		"lib/modules/6.1.0-test/modules.builtin":                                    "kernel/fs/ext4/ext4.ko\n",
		"lib/modules/6.1.0-test/kernel/drivers/virtio/virtio.ko":                    "ko:virtio",
		"lib/modules/6.1.0-test/kernel/drivers/virtio/virtio_mmio.ko":               "ko:virtio_mmio",
		"lib/modules/6.1.0-test/kernel/drivers/block/virtio_blk.ko":                 "ko:virtio_blk",
		"lib/modules/6.1.0-test/kernel/drivers/net/virtio_net.ko":                   "ko:virtio_net",
		"lib/modules/6.1.0-test/kernel/drivers/char/virtio_console.ko":              "ko:virtio_console",
		"lib/modules/6.1.0-test/kernel/net/vmw_vsock/vmw_vsock_virtio_transport.ko": "ko:vsock",
		"lib/modules/6.1.0-test/kernel/drivers/acpi/button.ko":                      "ko:button",
		"lib/modules/6.1.0-test/kernel/drivers/input/evdev.ko":                      "ko:evdev",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(dir, "etc/shadow"), 0o640)
	os.MkdirAll(filepath.Join(dir, "var/cache/apt/archives/partial"), 0o755)
	os.MkdirAll(filepath.Join(dir, "var/lib/apt/lists/partial"), 0o755)
	os.MkdirAll(filepath.Join(dir, "etc/systemd/system/getty.target.wants"), 0o755)
	os.Symlink("/lib/systemd/system/getty@.service", filepath.Join(dir, "etc/systemd/system/getty.target.wants/getty@tty1.service"))
	os.MkdirAll(filepath.Join(dir, "etc/systemd/system/timers.target.wants"), 0o755)
	os.Symlink("/lib/systemd/system/fstrim.timer", filepath.Join(dir, "etc/systemd/system/timers.target.wants/fstrim.timer"))
}
