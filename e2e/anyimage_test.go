package e2e

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"banger/internal/image/oci"
)

// TestAnyContainerImageBoots pulls container images built here as OCI
// layouts, whose root filesystems have no init, no udev and no sshd (a
// Debian minbase, glibc; a busybox-static one, no libc at all) or systemd
// without udev, and runs a command and an interactive shell in each. Their
// VMs have no network access to install anything at first boot.
func TestAnyContainerImageBoots(t *testing.T) {
	e := newEnv(t, "any")
	for _, c := range []struct {
		name, init, osID string
		layout           func() string
	}{
		{"minbase", oci.AgentInit, "ID=debian", func() string {
			return ociLayout(t, "minbase", debootstrapLayer(t, ""))
		}},
		{"busybox", oci.AgentInit, "ID=busybox", func() string {
			layer := filepath.Join(t.TempDir(), "busybox.tar.gz")
			writeLayer(t, busyboxTree(t), layer)
			return ociLayout(t, "busybox", layer)
		}},
		// systemd-sysv without udev: the work disk must not wait for a
		// udev device unit, and the agent starts early.
		{"systemd-no-udev", "", "ID=debian", func() string {
			return ociLayout(t, "systemd", debootstrapLayer(t, "systemd-sysv"))
		}},
	} {
		img := "any-" + c.name
		e.ok("image", "pull", c.layout(), "--name", img)
		show := e.ok("image", "show", img, "--json")
		if c.init != "" && !strings.Contains(show, `"init": "`+c.init+`"`) {
			t.Errorf("%s: image show does not record init %s:\n%s", img, c.init, show)
		}
		e.runCommandIn(img, c.osID)
		e.runShellIn(img)
		e.ok("image", "delete", img)
	}
	e.assertNoTrace()
}

// runCommandIn checks that `vm run --rm -- CMD` prints the command's output
// and exits with its code.
func (e *env) runCommandIn(img, osID string) {
	t := e.t
	t.Helper()
	out, code := e.banger(context.Background(), true, "vm", "run", "--image", img, "--rm", "--name", "e2e-"+img,
		"--", "sh", "-c", "cat /etc/os-release; exit 5")
	if code != 5 || !strings.Contains(out, osID+"\n") {
		t.Errorf("%s: vm run exit %d, want 5 and %s in the output:\n%s\ndaemon log:\n%s", img, code, osID, out, e.daemonLog())
	}
}

// runShellIn checks the interactive shell of `vm run` on a terminal: the
// guest side is a TTY, commands typed run, and `exit 3` ends the CLI with
// code 3 (the VM is removed with --rm).
func (e *env) runShellIn(img string) {
	t := e.t
	t.Helper()
	s := e.bangerPTY("vm", "run", "--image", img, "--rm", "--name", "e2e-sh-"+img)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// The prompt of root's shell (bash: "root@NAME:~# ", busybox: "~ # ").
	if err := s.waitOutput(ctx, "# "); err != nil {
		t.Fatalf("%s: %v; the terminal showed:\n%s\ndaemon log:\n%s", img, err, s.output(), e.daemonLog())
	}
	if _, err := s.master.WriteString("tty; echo $((6*7)); exit 3\r"); err != nil {
		t.Fatal(err)
	}
	code, err := s.wait(2 * time.Minute)
	out := s.output()
	if err != nil || code != 3 {
		t.Errorf("%s: interactive vm run: exit %d, %v; want 3; the terminal showed:\n%s", img, code, err, out)
	}
	// Output lines may start after a terminal escape (bash's bracketed
	// paste mode), so only their ends are anchored.
	if !regexp.MustCompile(`/dev/pts/\d+\r?\n`).MatchString(out) {
		t.Errorf("%s: `tty` did not print a /dev/pts/N terminal:\n%s", img, out)
	}
	if !regexp.MustCompile(`[\r\n]42\r?\n`).MatchString(out) {
		t.Errorf("%s: `echo $((6*7))` did not print 42:\n%s", img, out)
	}
}
