package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// uidBase is the default vm_uid_base.
const uidBase = 900_000_000

// TestQEMUIsNotRoot: a VM's QEMU runs under the seccomp sandbox as a uid
// of its own, on a tap that uid owns, and that uid can open none of the
// VM's files by path. It holds for a VM restored from the default image's
// snapshot (made by newEnv under the same rules) and for its cold boot.
func TestQEMUIsNotRoot(t *testing.T) {
	e := newEnv(t, "jail")
	out := e.ok("vm", "create", "--name", "e2e-jail")
	if !strings.Contains(out, "restored from snapshot in") {
		t.Errorf("e2e-jail was not restored from the snapshot:\n%s", out)
	}
	vms := e.list() // not idFromLog: the shared log may name an earlier run's e2e-jail
	if len(vms) != 1 {
		t.Fatalf("after create: %+v", vms)
	}
	id := vms[0].ID
	e.checkConfined("restored", id)
	e.ok("vm", "stop", "e2e-jail")
	e.ok("vm", "start", "e2e-jail") // a later start boots cold
	e.checkConfined("cold boot", id)
	e.ok("vm", "delete", "e2e-jail")
	e.assertNoTrace(id)
}

// checkConfined checks the running VM id's QEMU: its user, its command
// line, its credentials in /proc, its tap's owner, and what its uid may
// open; and that the guest still answers.
func (e *env) checkConfined(how, id string) {
	t := e.t
	t.Helper()
	vms := e.list()
	if len(vms) != 1 || vms[0].State != "running" || vms[0].PID == 0 {
		t.Fatalf("%s: %+v", how, vms)
	}
	vm := vms[0]
	pid := strconv.Itoa(vm.PID)
	user, err := exec.Command("ps", "-o", "user=", "-p", pid).Output()
	if err != nil {
		t.Fatalf("%s: ps: %v", how, err)
	}
	uid, err := strconv.Atoi(strings.TrimSpace(string(user)))
	t.Logf("%s: ps -o user= -p %s: %s", how, pid, strings.TrimSpace(string(user)))
	if err != nil || uid <= uidBase || uid > uidBase+1<<16 {
		t.Errorf("%s: QEMU pid %s runs as %q, want a uid of the VM range above %d", how, pid, user, uidBase)
	}
	cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
	args := strings.Split(string(cmdline), "\x00")
	want := map[string]string{
		"-sandbox": "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny",
		"-runas":   strconv.Itoa(uid) + ":" + strconv.Itoa(uid),
	}
	for i := 0; i+1 < len(args); i++ {
		if w, ok := want[args[i]]; ok && args[i+1] == w {
			delete(want, args[i])
		}
	}
	for flag, w := range want {
		t.Errorf("%s: QEMU's command line lacks %s %s", how, flag, w)
	}
	status, _ := os.ReadFile("/proc/" + pid + "/status")
	for _, line := range []string{"CapEff:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2",
		"Uid:\t" + strings.Repeat(strconv.Itoa(uid)+"\t", 3) + strconv.Itoa(uid)} {
		if !strings.Contains(string(status), line+"\n") {
			t.Errorf("%s: /proc/%s/status lacks %q", how, pid, line)
		}
	}
	// Not dumpable after the drop: its /proc files stay root's, so another
	// process of its uid cannot ptrace it or read its memory.
	if fi, err := os.Stat("/proc/" + pid + "/mem"); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("%s: /proc/%s/mem is not root's: %v", how, pid, err)
	}
	link, _ := exec.Command("ip", "-n", e.netns, "-d", "link", "show", vm.Tap).CombinedOutput()
	if !strings.Contains(string(link), "user "+strconv.Itoa(uid)+" ") {
		t.Errorf("%s: tap %s is not owned by uid %d:\n%s", how, vm.Tap, uid, link)
	}
	// The VM's own uid opens none of its files by path (QEMU opened them
	// as root before it dropped to the uid).
	for _, f := range []string{filepath.Join(e.state, "vms", id, "root.qcow2"), filepath.Join(e.state, "vms", id, "work.ext4")} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Errorf("%s: %v", how, err)
			continue
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %s has mode %v, want 0600", how, f, fi.Mode().Perm())
		}
		id := strconv.Itoa(uid)
		out, err := exec.Command("setpriv", "--reuid="+id, "--regid="+id, "--clear-groups", "head", "-c1", f).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "Permission denied") {
			t.Errorf("%s: uid %d read %s: %v %q", how, uid, f, err, out)
		}
	}
	if out := e.ok("vm", "ssh", vm.Name, "--", "hostname"); strings.TrimSpace(out) != vm.Name {
		t.Errorf("%s: hostname in the guest = %q", how, out)
	}
}
