package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

type opJSON struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Target string `json:"target"`
	State  string `json:"state"`
	Step   string `json:"step"`
	Error  string `json:"error"`
}

// detachedCreate runs `vm create --detach` with args and returns the id
// of the operation it printed.
func (e *env) detachedCreate(args ...string) string {
	e.t.Helper()
	out, code := e.banger(context.Background(), true, append([]string{"vm", "create", "--detach"}, args...)...)
	if code != 0 {
		e.t.Fatalf("vm create --detach: exit %d\n%s", code, out)
	}
	id := strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
	if len(id) < 8 || strings.ContainsAny(id, " :") {
		e.t.Fatalf("vm create --detach printed %q, want an operation id first", out)
	}
	return id
}

func (e *env) op(id string) opJSON {
	e.t.Helper()
	var op opJSON
	if err := json.Unmarshal([]byte(e.ok("ops", "show", id, "--json")), &op); err != nil {
		e.t.Fatal(err)
	}
	return op
}

// TestOpsCancelAndWait: `vm create --detach` returns at once; `ops cancel`
// during the boot leaves nothing behind (no VM, tap, process, rule or
// file); `ops wait` re-attaches to a second create and ends with its VM
// running. Both boot cold, so the boot lasts long enough to be caught.
func TestOpsCancelAndWait(t *testing.T) {
	e := newEnv(t, "ops")
	name := fmt.Sprintf("e2e-opcancel-%d", os.Getpid())
	opID := e.detachedCreate("--name", name, "--cold", "--nat")
	waitFor(t, 2*time.Minute, "the create to boot", func() (bool, string) {
		op := e.op(opID)
		if op.State != "running" {
			t.Fatalf("the create ended before it could be cancelled: %+v\n%s", op, e.daemonLog())
		}
		return op.Step == "boot" || op.Step == "ssh", op.Step
	})
	vmID := e.idFromLog(name)
	out := e.ok("ops", "cancel", opID)
	if !strings.Contains(out, "cancelled") {
		t.Fatalf("ops cancel: %s", out)
	}
	if op := e.op(opID); op.State != "cancelled" || op.Kind != "vm create" || op.Target != name {
		t.Errorf("record after cancel: %+v", op)
	}
	if out, code := e.banger(context.Background(), true, "ops", "wait", opID); code == 0 || !strings.Contains(out, "cancelled") {
		t.Errorf("ops wait of a cancelled create: exit %d\n%s", code, out)
	}
	for _, v := range e.list() {
		t.Errorf("cancel left VM %+v", v)
	}
	if vmID == "" {
		t.Error("no id for the cancelled VM in the daemon log")
	}
	e.assertNoTrace(vmID)
	rules, _ := exec.Command("ip", "netns", "exec", e.netns, "nft", "list", "ruleset").CombinedOutput()
	if strings.Contains(string(rules), "bgtap-") || strings.Contains(string(rules), "masquerade") {
		t.Errorf("nftables rules of the cancelled VM remain:\n%s", rules)
	}

	name2 := fmt.Sprintf("e2e-opwait-%d", os.Getpid())
	opID = e.detachedCreate("--name", name2, "--cold")
	out = e.ok("ops", "wait", opID)
	if !strings.Contains(out, opID+" vm create "+name2+" succeeded") {
		t.Errorf("ops wait:\n%s", out)
	}
	var vm vmJSON
	if err := json.Unmarshal([]byte(e.ok("vm", "show", name2, "--json")), &vm); err != nil || vm.State != "running" {
		t.Errorf("VM after ops wait: %+v, %v", vm, err)
	}
	var ops []opJSON
	if err := json.Unmarshal([]byte(e.ok("ops", "list", "--json")), &ops); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, op := range ops {
		states[op.Target] = op.State
	}
	if states[name] != "cancelled" || states[name2] != "succeeded" {
		t.Errorf("ops list: %+v", ops)
	}
	e.ok("vm", "delete", name2)
}

// TestOpsRunningAcrossACrashShowFailed: an operation that was running when
// bangerd was killed is shown failed, with the reason, by the next daemon.
func TestOpsRunningAcrossACrashShowFailed(t *testing.T) {
	e := newEnv(t, "opcrash")
	name := fmt.Sprintf("e2e-opcrash-%d", os.Getpid())
	opID := e.detachedCreate("--name", name, "--cold")
	waitFor(t, 2*time.Minute, "the create to boot", func() (bool, string) {
		op := e.op(opID)
		if op.State != "running" {
			t.Fatalf("the create ended before the crash: %+v", op)
		}
		return op.Step == "boot" || op.Step == "ssh", op.Step
	})
	_ = syscall.Kill(-e.daemon.Process.Pid, syscall.SIGKILL)
	_ = e.daemon.Wait()
	e.daemon = nil
	e.startDaemon()
	op := e.op(opID)
	if op.State != "failed" || op.Error != "the daemon stopped while it ran" || op.Step == "" {
		t.Errorf("record after the crash: %+v; want failed, with the reason and the step it was in", op)
	}
	if out, code := e.banger(context.Background(), true, "ops", "wait", opID); code == 0 || !strings.Contains(out, "the daemon stopped while it ran") {
		t.Errorf("ops wait of the interrupted create: exit %d\n%s", code, out)
	}
	for _, v := range e.list() { // reconcile adopted or removed it
		e.ok("vm", "delete", v.Name)
	}
	e.assertNoTrace(e.idFromLog(name))
}
