package e2e

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/shquote"
)

// checkReadyWithoutSSHD shows that a VM needs no sshd: banger's image
// boots the agent as PID 1 and starts no sshd, yet after a restart the VM
// is ready, and vm exec (exit codes, streams), vm ssh (with a terminal
// too) and the ssh config's NAME.vm all reach it, the last from outside the
// VM network's namespace, where the guest's address has no route.
func checkReadyWithoutSSHD(t *testing.T, e *env, name string) {
	t.Helper()
	e.ok("vm", "stop", name)
	e.ok("vm", "start", name)
	procs := e.ok("vm", "exec", name, "--", "sh", "-c", "cat /proc/1/comm; ps -eo comm= | grep -cx sshd || true")
	if f := strings.Fields(procs); len(f) != 2 || f[0] != "banger-agent" || f[1] != "0" {
		t.Fatalf("PID 1 and sshd count = %q, want banger-agent and 0", procs)
	}
	if _, code := e.banger(context.Background(), true, "vm", "exec", name, "--", "sh", "-c", "exit 7"); code != 7 {
		t.Errorf("exec without sshd: exit %d, want 7", code)
	}
	// The commands below run outside e.banger, so they get a deadline here.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, "banger"), "--config", e.cfgPath, "vm", "exec", name, "--", "sh", "-c", "echo out; echo err >&2")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stdout.String() != "out\n" || stderr.String() != "err\n" {
		t.Errorf("exec without sshd, from outside the namespace: %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}
	if out := e.ok("vm", "ssh", name, "--", "hostname"); strings.TrimSpace(out) != name {
		t.Errorf("vm ssh hostname without sshd = %q", out)
	}
	// An interactive shell gets a terminal: vm ssh under script(1).
	shell := exec.CommandContext(ctx, "script", "-qec", shquote.Join(filepath.Join(e.bin, "banger"), "--config", e.cfgPath, "vm", "ssh", name), "/dev/null")
	shell.Stdin = strings.NewReader("tty; exit 3\n")
	out, err := shell.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(string(out), "/dev/pts/") {
		t.Errorf("interactive vm ssh without sshd: %v, output %q; want a /dev/pts terminal and exit 3", err, out)
	}
	sshCfg := filepath.Join(e.state, "ssh", "config")
	out, err = exec.CommandContext(ctx, "ssh", "-F", sshCfg, "-o", "BatchMode=yes", name+".vm", "hostname").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != name {
		t.Errorf("ssh -F banger-config %s.vm hostname without sshd: %v: %s", name, err, out)
	}
}
