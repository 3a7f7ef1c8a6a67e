package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRunReturnsExitCode is the spine: `vm run --rm -- cmd` boots a VM,
// prints the command's output, exits with its code and leaves nothing.
// Its / has the default room (root_size, 4G).
func TestRunReturnsExitCode(t *testing.T) {
	e := newEnv(t, "run")
	out, code := e.banger(context.Background(), true, "vm", "run", "--rm", "--name", "e2e-run", "--", "sh", "-c", "echo hello; "+dfRoot+"; exit 7")
	if code != 7 {
		t.Fatalf("vm run exit code %d, want 7; output:\n%s\ndaemon log:\n%s", code, out, e.daemonLog())
	}
	if !strings.Contains(out, "hello\n") {
		t.Fatalf("output lacks the command's output:\n%s", out)
	}
	if !strings.Contains(out, "spec: 1 vcpu · 768 MiB · 2G disk") {
		t.Errorf("output lacks the spec line:\n%s", out)
	}
	if g := availGiB(t, out); g < 4 {
		t.Errorf("/ has %dG free in a default VM, want at least 4G:\n%s", g, out)
	}
	id := e.idFromLog("e2e-run")
	if id == "" {
		t.Fatal("no id for e2e-run in the daemon log")
	}
	if vms := e.list(); len(vms) != 0 {
		t.Errorf("--rm left VMs: %+v", vms)
	}
	e.assertNoTrace(id)
}

// TestLifecycle covers create, ssh, a daemon restart with the VM running,
// stop/start with the work disk kept, a VMM that dies, and delete.
func TestLifecycle(t *testing.T) {
	e := newEnv(t, "life")
	gitcfg := filepath.Join(t.TempDir(), "gitconfig")
	os.WriteFile(gitcfg, []byte("[user]\n\tname = Life Tester\n\temail = life@example.com\n"), 0o644)
	t.Setenv("GIT_CONFIG_GLOBAL", gitcfg) // the CLI sends this identity to the guest
	// --init systemd: the image's own init, with its services, instead of
	// the agent as PID 1 (the other tests boot the agent).
	e.ok("vm", "create", "--name", "e2e-life", "--nat", "--root-size", "6G", "--init", "systemd")
	id := e.idFromLog("e2e-life")
	vms := e.list()
	if len(vms) != 1 || vms[0].State != "running" || vms[0].PID == 0 {
		t.Fatalf("after create: %+v", vms)
	}
	checkSystemdWithHostsKey(t, e, "e2e-life")
	// --nat installs this VM's rules (no traffic is sent through them).
	if rules := e.nftRules(); !strings.Contains(rules, "ip saddr "+vms[0].IP) || !strings.Contains(rules, "masquerade") {
		t.Errorf("no NAT rules for %s:\n%s", vms[0].IP, rules)
	}
	pid := vms[0].PID
	e.ok("vm", "ssh", "e2e-life", "--", "sh", "-c", "echo kept > /root/marker && sync")
	if out := e.ok("vm", "ssh", "e2e-life", "--", "sh", "-c", dfRoot); availGiB(t, out) < 6 {
		t.Errorf("/ of a VM made with --root-size 6G: %s", out)
	}

	// The daemon goes away and comes back: the VM keeps running.
	e.stopDaemon()
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("VMM process %d died with the daemon: %v", pid, err)
	}
	e.startDaemon()
	vms = e.list()
	if len(vms) != 1 || vms[0].State != "running" || vms[0].PID != pid {
		t.Fatalf("after daemon restart: %+v (want running, pid %d)", vms, pid)
	}
	if out := e.ok("vm", "ssh", "e2e-life", "--", "hostname"); strings.TrimSpace(out) != "e2e-life" {
		t.Errorf("hostname in guest = %q", out)
	}
	if out := e.ok("vm", "ssh", "e2e-life", "--", "git", "config", "--global", "user.name"); out != "Life Tester\n" {
		t.Errorf("guest git user.name = %q", out)
	}
	// [[file_sync]] copied the host file in at start, with its mode.
	if out := e.ok("vm", "ssh", "e2e-life", "--", "sh", "-c", "stat -c %a /root/synced/hello.txt; cat /root/synced/hello.txt"); out != "600\nsynced from the host\n" {
		t.Errorf("file_sync result: %q", out)
	}

	// Stop and start: the work disk at /root survives.
	e.ok("vm", "stop", "e2e-life")
	if v := e.list()[0]; v.State != "stopped" || v.Tap != "" {
		t.Fatalf("after stop: %+v", v)
	}
	if rules := e.nftRules(); strings.Contains(rules, "ip saddr "+vms[0].IP) {
		t.Errorf("NAT rules remain after stop:\n%s", rules)
	}
	e.ok("vm", "start", "e2e-life")
	if out := e.ok("vm", "ssh", "e2e-life", "--", "cat", "/root/marker"); strings.TrimSpace(out) != "kept" {
		t.Errorf("/root/marker after restart = %q, want kept", out)
	}
	if out := e.ok("vm", "ssh", "e2e-life", "--", "sh", "-c", dfRoot); availGiB(t, out) < 6 {
		t.Errorf("/ after a restart: %s", out)
	}
	if logs := e.ok("vm", "logs", "e2e-life"); !strings.Contains(logs, "e2e-life login:") && !strings.Contains(logs, "Debian GNU/Linux") && !strings.Contains(logs, "msg=booted") {
		t.Errorf("vm logs shows no console output:\n%.2000s", logs)
	}

	// A VMM process that dies is shown as stopped, and its tap goes.
	pid = e.list()[0].PID
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the VM to show as stopped after its VMM was killed", func() (bool, string) {
		state := e.list()[0].State
		return state == "stopped", "state " + state
	})
	e.ok("vm", "delete", "e2e-life")
	e.assertNoTrace(id)
}

// TestBadInput: clear errors, and nothing changes.
func TestBadInput(t *testing.T) {
	e := newEnv(t, "bad")
	e.ok("vm", "create", "--no-start", "--name", "e2e-dup")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"vm", "show", "no-such-vm"}, "not found"},
		{[]string{"vm", "create", "--no-start", "--name", "e2e-dup"}, "already exists"},
		{[]string{"vm", "create", "--no-start", "--name", "Bad_Name"}, "lowercase letters"},
		{[]string{"vm", "create", "--no-start", "--disk-size", "12Q"}, "bad size"},
		{[]string{"vm", "create", "--no-start", "--image", "no-such-image"}, "no such image"},
		{[]string{"vm", "ssh", "e2e-dup"}, "start it with"},
	}
	for _, c := range cases {
		out, code := e.banger(context.Background(), true, c.args...)
		if code == 0 || !strings.Contains(out, c.want) {
			t.Errorf("banger %s: exit %d, output %q; want failure mentioning %q", strings.Join(c.args, " "), code, out, c.want)
		}
	}
	vms := e.list()
	if len(vms) != 1 || vms[0].Name != "e2e-dup" || vms[0].State != "created" {
		t.Errorf("bad input changed the VM list: %+v", vms)
	}
	id := vms[0].ID
	e.ok("vm", "delete", "e2e-dup")
	e.assertNoTrace(id)
}

// dfRoot prints the room on / as avail=<N>G.
const dfRoot = "echo avail=$(df -BG --output=avail / | tail -n 1)"

// availGiB reads dfRoot's answer in out (-1 when absent).
func availGiB(t *testing.T, out string) int {
	t.Helper()
	m := regexp.MustCompile(`avail=\s*(\d+)G`).FindStringSubmatch(out)
	if m == nil {
		t.Errorf("no avail=<N>G in the output:\n%s", out)
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	t.Logf("/ has %dG free", n)
	return n
}

// checkSystemdWithHostsKey: a VM made with --init systemd runs systemd as
// PID 1 and the image's sshd, and sshd's host key is the one the host made
// and pinned before the first boot.
func checkSystemdWithHostsKey(t *testing.T, e *env, name string) {
	t.Helper()
	// Ready is the agent's hello, which comes before sshd has started.
	var f []string
	waitFor(t, time.Minute, "systemd as PID 1 with sshd active", func() (bool, string) {
		out := e.ok("vm", "exec", name, "--", "sh", "-c", "cat /proc/1/comm; systemctl is-active ssh.service; cut -d' ' -f2 /etc/ssh/ssh_host_ed25519_key.pub")
		f = strings.Fields(out)
		return len(f) == 3 && f[0] == "systemd" && f[1] == "active", out
	})
	known, err := os.ReadFile(filepath.Join(e.state, "ssh", "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(known), f[2]) {
		t.Errorf("sshd's host key %s is not the one banger pinned:\n%s", f[2], known)
	}
	// Ready comes before multi-user.target: the getty follows.
	waitFor(t, time.Minute, "systemd's getty on the console", func() (bool, string) {
		logs := e.ok("vm", "logs", name)
		return strings.Contains(logs, "login:"), logs
	})
}
