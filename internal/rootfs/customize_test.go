package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"banger/internal/rootfs/rootfstest"
)

func TestCustomize(t *testing.T) {
	root := t.TempDir()
	rootfstest.Debian(t, root)
	// resolv.conf copied from the host as a symlink pointing outside the
	// tree: customize must replace the link, not write through it.
	outside := filepath.Join(t.TempDir(), "host-resolv.conf")
	os.WriteFile(outside, []byte("nameserver 10.0.0.1\n"), 0o644)
	if err := os.Symlink(outside, filepath.Join(root, "etc/resolv.conf")); err != nil {
		t.Fatal(err)
	}
	agent := filepath.Join(t.TempDir(), "agent")
	os.WriteFile(agent, []byte("AGENT-BINARY"), 0o600)

	if err := Customize(root, agent); err != nil {
		t.Fatalf("customize: %v", err)
	}
	// Running it twice must work too (idempotent).
	if err := Customize(root, agent); err != nil {
		t.Fatalf("second customize: %v", err)
	}

	read := func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatalf("reading %s: %v", name, err)
		}
		return string(b)
	}
	mode := func(name string) os.FileMode {
		t.Helper()
		fi, err := os.Lstat(filepath.Join(root, name))
		if err != nil {
			t.Fatalf("stat %s: %v", name, err)
		}
		return fi.Mode()
	}
	link := func(name string) string {
		t.Helper()
		l, err := os.Readlink(filepath.Join(root, name))
		if err != nil {
			t.Fatalf("readlink %s: %v", name, err)
		}
		return l
	}
	gone := func(name string) {
		t.Helper()
		if _, err := os.Lstat(filepath.Join(root, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still present (err=%v)", name, err)
		}
	}

	if read("usr/local/bin/banger-agent") != "AGENT-BINARY" || mode("usr/local/bin/banger-agent") != 0o755 {
		t.Errorf("agent not installed as 0755 copy: mode %v", mode("usr/local/bin/banger-agent"))
	}
	agentUnit := read("etc/systemd/system/banger-agent.service")
	for _, want := range []string{"ExecStart=/usr/local/bin/banger-agent serve", "Restart=always", "DefaultDependencies=no",
		"After=banger-work.service banger-net.service", "Before=basic.target shutdown.target", "WantedBy=basic.target"} {
		if !strings.Contains(agentUnit, want) {
			t.Errorf("banger-agent.service lacks %q", want)
		}
	}
	// The agent starts early: nothing it is ordered after may wait for
	// sshd or multi-user.target.
	for _, bad := range []string{"ssh", "multi-user.target"} {
		if strings.Contains(unitDeps(agentUnit), bad) {
			t.Errorf("banger-agent.service waits for %s:\n%s", bad, agentUnit)
		}
	}
	workUnit := read("etc/systemd/system/banger-work.service")
	for _, want := range []string{"DefaultDependencies=no", "Type=oneshot", "ExecStart=/usr/local/bin/banger-agent mount-work",
		"Before=local-fs.target umount.target", "WantedBy=local-fs.target"} {
		if !strings.Contains(workUnit, want) {
			t.Errorf("banger-work.service lacks %q", want)
		}
	}
	if strings.Contains(unitDeps(workUnit), ".device") {
		t.Errorf("banger-work.service depends on a udev device unit:\n%s", workUnit)
	}
	netUnit := read("etc/systemd/system/banger-net.service")
	for _, want := range []string{"Type=oneshot", "ExecStart=/usr/local/bin/banger-agent net-setup", "RemainAfterExit=yes",
		"DefaultDependencies=no", "Before=network.target network-online.target ssh.service"} {
		if !strings.Contains(netUnit, want) {
			t.Errorf("banger-net.service lacks %q", want)
		}
	}
	keysUnit := read("etc/systemd/system/banger-hostkeys.service")
	for _, want := range []string{"Before=ssh.service", "ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key", "ConditionPathExists=/usr/bin/ssh-keygen", "After=local-fs.target banger-work.service",
		"for k in /root/.banger/ssh_host_ed25519_key /etc/banger/ssh_host_ed25519_key;", `install -m 0600 "$k" /etc/ssh/ssh_host_ed25519_key`,
		`done; ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key`} {
		if !strings.Contains(keysUnit, want) {
			t.Errorf("banger-hostkeys.service lacks %q", want)
		}
	}
	wants := "etc/systemd/system/multi-user.target.wants/"
	for _, u := range []string{"local-fs.target.wants/banger-work.service", "basic.target.wants/banger-agent.service",
		"multi-user.target.wants/banger-net.service", "multi-user.target.wants/banger-hostkeys.service"} {
		if got := link("etc/systemd/system/" + u); got != "/etc/systemd/system/"+filepath.Base(u) {
			t.Errorf("%s enabled as %q", u, got)
		}
	}
	if got := link(wants + "ssh.service"); got != "/lib/systemd/system/ssh.service" {
		t.Errorf("ssh.service enabled as %q", got)
	}
	for _, u := range maskedUnits {
		if got := link("etc/systemd/system/" + u); got != "/dev/null" {
			t.Errorf("%s not masked: %q", u, got)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/systemd/system/serial-getty@ttyS0.service")); err == nil {
		t.Errorf("serial getty must not be masked")
	}
	gone("etc/systemd/system/getty.target.wants/getty@tty1.service")

	sshd := read("etc/ssh/sshd_config.d/banger.conf")
	for _, want := range []string{"PermitRootLogin prohibit-password", "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UseDNS no", "HostKey /etc/ssh/ssh_host_ed25519_key"} {
		if !strings.Contains(sshd, want+"\n") {
			t.Errorf("banger.conf lacks %q", want)
		}
	}
	if !strings.Contains(read("etc/modules-load.d/banger-vsock.conf"), "vmw_vsock_virtio_transport") {
		t.Errorf("the vsock transport is not loaded at boot")
	}
	for _, u := range []string{"ssh.service", "sshd.service"} {
		if !strings.Contains(read("etc/systemd/system/"+u+".d/banger.conf"), "After=banger-work.service") {
			t.Errorf("%s is not ordered after the /root mount", u)
		}
	}
	gone("etc/ssh/ssh_host_ed25519_key")
	gone("etc/ssh/ssh_host_rsa_key.pub")
	if read("etc/ssh/moduli") != "moduli" {
		t.Errorf("unrelated ssh file changed")
	}

	fstab := read("etc/fstab")
	if !strings.Contains(fstab, "/dev/vda / ext4 defaults 0 1\n") {
		t.Errorf("fstab lacks the root line:\n%s", fstab)
	}
	// /root is banger-work.service's: an fstab line would wait for a udev
	// device unit.
	for _, l := range strings.Split(fstab, "\n") {
		if f := strings.Fields(l); len(f) > 1 && !strings.HasPrefix(f[0], "#") && f[1] == "/root" {
			t.Errorf("fstab mounts /root: %q", l)
		}
	}
	if got := read("etc/hostname"); got != "banger\n" {
		t.Errorf("hostname = %q", got)
	}
	if got := read("etc/machine-id"); got != "" {
		t.Errorf("machine-id = %q, want empty", got)
	}
	if got := link("var/lib/dbus/machine-id"); got != "/etc/machine-id" {
		t.Errorf("dbus machine-id = %q, want link to /etc/machine-id", got)
	}
	if got := read("etc/shadow"); got != "root:!*:20000:0:99999:7:::\ndaemon:*:20000:0:99999:7:::\n" {
		t.Errorf("shadow = %q", got)
	}
	if got := mode("etc/shadow"); got != 0o640 {
		t.Errorf("shadow mode = %v, want 0640 kept", got)
	}
	if mode("etc/resolv.conf")&os.ModeSymlink != 0 {
		t.Errorf("resolv.conf still a symlink")
	}
	if b, _ := os.ReadFile(outside); string(b) != "nameserver 10.0.0.1\n" {
		t.Errorf("customize wrote through the resolv.conf symlink to the host: %q", b)
	}
	mods := read("etc/initramfs-tools/modules")
	for _, m := range []string{"virtio_mmio", "virtio_blk", "virtio_net", "virtio_console", "ext4", "vmw_vsock_virtio_transport", "button", "evdev"} {
		if !slices.Contains(strings.Split(mods, "\n"), m) {
			t.Errorf("initramfs modules lack %s", m)
		}
	}
	gone("var/cache/apt/archives/a_1.deb")
	gone("var/lib/apt/lists/deb_Packages")
	if _, err := os.Stat(filepath.Join(root, "var/cache/apt/archives/partial")); err != nil {
		t.Errorf("apt partial dir removed: %v", err)
	}
	// No temp files left behind.
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".banger-tmp") {
			t.Errorf("temp file left: %s", p)
		}
		return nil
	})
}

func TestCustomizeRejectsEscapingDirs(t *testing.T) {
	root := t.TempDir()
	rootfstest.Debian(t, root)
	// /usr/local/bin is an absolute symlink out of the tree: refuse.
	os.MkdirAll(filepath.Join(root, "usr/local"), 0o755)
	victim := t.TempDir()
	os.Symlink(victim, filepath.Join(root, "usr/local/bin"))
	agent := filepath.Join(t.TempDir(), "agent")
	os.WriteFile(agent, []byte("x"), 0o755)
	if err := Customize(root, agent); err == nil {
		t.Fatal("customize followed a symlink out of the rootfs")
	}
	if entries, _ := os.ReadDir(victim); len(entries) != 0 {
		t.Fatalf("wrote outside the rootfs: %v", entries)
	}
}

func TestLockShadowRoot(t *testing.T) {
	got, err := lockShadowRoot([]byte("daemon:*:1::\nroot:$6$abc:1:0:99999:7:::\n"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "daemon:*:1::\nroot:!*:1:0:99999:7:::\n" {
		t.Fatalf("got %q", got)
	}
	if _, err := lockShadowRoot([]byte("daemon:*:1::\n")); err == nil {
		t.Fatal("missing root entry accepted")
	}
}

// unitDeps returns the ordering and requirement lines of a unit file.
func unitDeps(unit string) string {
	var deps []string
	for _, l := range strings.Split(unit, "\n") {
		for _, k := range []string{"After=", "Requires=", "Wants=", "BindsTo=", "Requisite="} {
			if strings.HasPrefix(l, k) {
				deps = append(deps, l)
			}
		}
	}
	return strings.Join(deps, "\n")
}
