package oci

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tree writes files (name -> body; a body "-> T" makes a symlink to T) under
// a new directory.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(body, "-> "); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(body), 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func agentBinary(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "banger-agent")
	if err := os.WriteFile(p, []byte("AGENT"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInjectBootsTheAgentWithoutSystemd(t *testing.T) {
	for name, files := range map[string]map[string]string{
		// debootstrap minbase without systemd-sysv: systemd's binary may
		// even be there, but nothing makes it /sbin/init.
		"minbase": {"bin/bash": "bash", "bin/sh": "-> bash", "etc/os-release": "ID=debian\n",
			"etc/passwd": "root:x:0:0:root:/root:/bin/bash\n", "lib/systemd/systemd": "systemd"},
		"busybox": {"bin/busybox": "busybox", "bin/sh": "-> busybox", "etc/os-release": "ID=busybox\n"},
		// Alpine-like: busybox's init, which would not start the agent.
		"busybox-init": {"bin/busybox": "busybox", "bin/sh": "/bin/busybox", "sbin/init": "-> /bin/busybox"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := tree(t, files)
			init, notes, err := inject(dir, agentBinary(t))
			if err != nil {
				t.Fatal(err)
			}
			if init != AgentInit || len(notes) != 0 {
				t.Errorf("inject = %q, %q; want %q and no notes", init, notes, AgentInit)
			}
			if b, err := os.ReadFile(filepath.Join(dir, InitRecord)); err != nil || string(b) != AgentInit+"\n" {
				t.Errorf("%s = %q, %v", InitRecord, b, err)
			}
			if b, err := os.ReadFile(filepath.Join(dir, AgentInit)); err != nil || string(b) != "AGENT" {
				t.Errorf("agent not installed at %s: %q, %v", AgentInit, b, err)
			}
			for _, gone := range []string{"sbin/banger-init"} {
				if _, err := os.Lstat(filepath.Join(dir, gone)); err == nil {
					t.Errorf("/%s was installed", gone)
				}
			}
			checkBaseLayout(t, dir)
		})
	}
}

// checkBaseLayout checks what the agent as PID 1 needs in the image.
func checkBaseLayout(t *testing.T, dir string) {
	t.Helper()
	for name, want := range map[string]fs.FileMode{
		"dev": fs.ModeDir | 0o755, "proc": fs.ModeDir | 0o555, "sys": fs.ModeDir | 0o555, "run": fs.ModeDir | 0o755,
		"tmp": fs.ModeDir | fs.ModeSticky | 0o777, "root": fs.ModeDir | 0o700,
	} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil || fi.Mode() != want {
			t.Errorf("/%s: %v, %v; want mode %v", name, fi, err, want)
		}
	}
	for _, name := range []string{"etc/resolv.conf", "etc/hosts", "etc/hostname", "etc/shadow", "etc/group"} {
		if fi, err := os.Lstat(filepath.Join(dir, name)); err != nil || !fi.Mode().IsRegular() {
			t.Errorf("/%s missing: %v", name, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "etc/passwd")); !strings.HasPrefix(string(b), "root:x:0:0:root:/root:") {
		t.Errorf("/etc/passwd = %q, want a root entry", b)
	}
}

func TestInjectKeepsSystemdAndExistingFiles(t *testing.T) {
	// usrmerge: /lib -> usr/lib, /sbin/init -> /lib/systemd/systemd.
	dir := tree(t, map[string]string{
		"usr/lib/systemd/systemd": "systemd", "lib": "-> usr/lib", "sbin/init": "-> /lib/systemd/systemd",
		"bin/sh": "sh", "etc/passwd": "root:x:0:0:root:/root:/bin/bash\nme:x:1000:1000::/home/me:/bin/sh\n",
		"tmp": "-> /var/tmp", "var/tmp/.keep": "",
		// A re-import of an image banger made for the agent.
		"etc/banger/init": AgentInit + "\n",
	})
	init, _, err := inject(dir, agentBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if init != "" {
		t.Errorf("init = %q, want \"\" (boot systemd)", init)
	}
	if _, err := os.Lstat(filepath.Join(dir, InitRecord)); err == nil {
		t.Errorf("%s left in an image that boots systemd", InitRecord)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "etc/passwd")); !strings.Contains(string(b), "me:x:1000") {
		t.Errorf("/etc/passwd replaced: %q", b)
	}
	if l, err := os.Readlink(filepath.Join(dir, "tmp")); err != nil || l != "/var/tmp" {
		t.Errorf("/tmp symlink replaced: %q, %v", l, err)
	}
	// The work disk is the agent's to mount, not fstab's (no udev device
	// unit to wait for), and the agent starts before basic.target.
	fstab, _ := os.ReadFile(filepath.Join(dir, "etc/fstab"))
	for _, l := range strings.Split(string(fstab), "\n") {
		if !strings.HasPrefix(l, "#") && strings.Contains(l, "/root") {
			t.Errorf("fstab mounts the work disk: %q", l)
		}
	}
	for link, want := range map[string]string{
		"etc/systemd/system/local-fs.target.wants/banger-work.service": "/etc/systemd/system/banger-work.service",
		"etc/systemd/system/basic.target.wants/banger-agent.service":   "/etc/systemd/system/banger-agent.service",
	} {
		if got, err := os.Readlink(filepath.Join(dir, link)); err != nil || got != want {
			t.Errorf("/%s -> %q, %v; want %q", link, got, err, want)
		}
	}
	unit, _ := os.ReadFile(filepath.Join(dir, "etc/systemd/system/banger-work.service"))
	if !strings.Contains(string(unit), "ExecStart=/usr/local/bin/banger-agent mount-work") {
		t.Errorf("banger-work.service:\n%s", unit)
	}
	drop, _ := os.ReadFile(filepath.Join(dir, "etc/systemd/system/sshd.service.d/banger.conf"))
	if !strings.Contains(string(drop), "After=banger-work.service") {
		t.Errorf("sshd.service is not ordered after the work disk:\n%s", drop)
	}
}

func TestInjectNotesAMissingShell(t *testing.T) {
	dir := tree(t, map[string]string{"app": "static binary"})
	init, notes, err := inject(dir, agentBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	if init != AgentInit || len(notes) != 1 || !strings.Contains(notes[0], "no /bin/sh") {
		t.Errorf("inject = %q, %q; want the agent and a note on the missing shell", init, notes)
	}
}
