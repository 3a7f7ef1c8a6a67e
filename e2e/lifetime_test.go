package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// lifetimeCheck makes the daemon look for idle and expired VMs every 2s
// instead of every 10s.
func lifetimeCheck(*env) string { return "lifetime_check_interval = \"2s\"\n" }

// A VM made with --auto-stop 20s that nobody uses is stopped within a
// minute, and vm list says why.
func TestIdleVMIsStopped(t *testing.T) {
	e := newEnv(t, "idle", lifetimeCheck)
	e.ok("vm", "create", "--name", "e2e-idle", "--auto-stop", "20s")
	created := time.Now()
	if out := e.ok("vm", "show", "e2e-idle"); !strings.Contains(out, "auto-stop:") {
		t.Errorf("vm show of a VM with --auto-stop:\n%s", out)
	}
	waitFor(t, time.Minute, "vm list to show the VM stopped (idle)", func() (bool, string) {
		out := e.ok("vm", "list")
		return strings.Contains(out, "stopped (idle)"), out
	})
	t.Logf("stopped %s after the create returned", time.Since(created).Round(time.Second))
	if vms := e.list(); len(vms) != 1 || vms[0].State != "stopped" || vms[0].PID != 0 {
		t.Errorf("vm list --json after the idle stop: %+v", vms)
	}
	if log := e.daemonLog(); !strings.Contains(log, "stopping idle vm") {
		t.Errorf("the daemon log does not say it stopped an idle VM:\n%s", log)
	}
	e.ok("vm", "delete", "e2e-idle")
}

// A VM with --auto-stop 20s whose guest keeps its CPU busy, with no
// session open, keeps running: the guest's load says it is in use.
func TestBusyVMKeepsRunning(t *testing.T) {
	e := newEnv(t, "busy", lifetimeCheck)
	e.ok("vm", "create", "--name", "e2e-busy", "--auto-stop", "20s")
	// A busy loop that outlives the session that starts it.
	e.ok("vm", "ssh", "e2e-busy", "--", "sh", "-c", "nohup sh -c 'while :; do :; done' >/dev/null 2>&1 &")
	time.Sleep(50 * time.Second) // the idle time would have run out twice over
	if vms := e.list(); len(vms) != 1 || vms[0].State != "running" {
		t.Fatalf("a VM whose CPU is busy was stopped: %+v\n%s", vms, e.daemonLog())
	}
	e.ok("vm", "delete", "e2e-busy")
}

// A VM made with --ttl 30s is deleted within a minute, running or not,
// and leaves nothing behind.
func TestTTLDeletesVM(t *testing.T) {
	e := newEnv(t, "ttl", lifetimeCheck)
	e.ok("vm", "create", "--name", "e2e-ttl", "--ttl", "30s")
	id := e.idFromLog("e2e-ttl")
	created := time.Now()
	if out := e.ok("vm", "show", "e2e-ttl"); !strings.Contains(out, "ttl:") {
		t.Errorf("vm show of a VM with --ttl:\n%s", out)
	}
	// Busy all along: a TTL deletes the VM whatever it is doing.
	busy, stop := context.WithCancel(context.Background())
	defer stop()
	go func() { _, _ = e.banger(busy, true, "vm", "ssh", "e2e-ttl", "--", "sh", "-c", "while :; do :; done") }()
	waitFor(t, time.Minute, "the VM deleted at its time to live", func() (bool, string) {
		vms := e.list()
		return len(vms) == 0, fmt.Sprint(vms)
	})
	t.Logf("deleted %s after the create returned", time.Since(created).Round(time.Second))
	stop()
	e.assertNoTrace(id)
}
