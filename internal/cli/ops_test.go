package cli

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"banger/internal/api"
)

func opEvent(t *testing.T, op api.Operation) api.Event {
	t.Helper()
	b, err := json.Marshal(op)
	if err != nil {
		t.Fatal(err)
	}
	return api.Event{Type: api.EventOperation, Result: b}
}

// TestVMCreateDetach: --detach prints the operation's id once the daemon
// names it and returns, without waiting for the VM.
func TestVMCreateDetach(t *testing.T) {
	f := newFakeDaemon(t)
	f.stream("POST /v1/vms",
		opEvent(t, api.Operation{ID: "op1", Kind: "vm create", Target: "box", State: api.OpRunning}),
		api.Event{Type: "log", Step: "create", Message: "VM box"},
		result(t, testVMs()[0]))
	r := f.cli("vm", "create", "--name", "box", "--detach")
	wantExit(t, r, 0)
	if r.stdout != "op1\n" || !strings.Contains(r.stderr, "banger ops wait op1") || strings.Contains(r.stderr, "VM box") {
		t.Errorf("detached create: stdout %q, stderr %q", r.stdout, r.stderr)
	}

	f.stream("POST /v1/images/pull",
		opEvent(t, api.Operation{ID: "op2", Kind: "image pull", Target: "alpine:3", State: api.OpRunning}),
		api.Event{Type: "progress", Step: "download", Done: 1, Total: 9})
	r = f.cli("image", "pull", "alpine:3", "--detach")
	wantExit(t, r, 0)
	if r.stdout != "op2\n" {
		t.Errorf("detached pull: stdout %q, stderr %q", r.stdout, r.stderr)
	}
}

// TestVMCreateCtrlCCancels: Ctrl-C while a create runs in the foreground
// cancels its operation, says so and names it.
func TestVMCreateCtrlCCancels(t *testing.T) {
	f := newFakeDaemon(t)
	cancelled := make(chan struct{})
	f.handle("POST /v1/ops/op3/cancel", func(w http.ResponseWriter, _ *http.Request) {
		close(cancelled)
		writeFakeJSON(w, http.StatusOK, api.Operation{ID: "op3", State: api.OpCancelled})
	})
	f.handle("POST /v1/vms", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		_ = enc.Encode(opEvent(t, api.Operation{ID: "op3", Kind: "vm create", State: api.OpRunning}))
		w.(http.Flusher).Flush()
		select {
		case <-cancelled:
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Second): // the test fails below
		}
		_ = enc.Encode(api.Event{Type: "error", Error: &api.Error{Kind: api.KindFailed, Message: "operation cancelled: boot: context canceled"}})
	})
	var stdout, stderr strings.Builder
	a := f.app(&stdout, &stderr)
	a.sigs = make(chan os.Signal, 1)
	a.sigs <- os.Interrupt
	code := a.main(t.Context(), []string{"vm", "create", "--name", "box"})
	if code == 0 {
		t.Fatal("an interrupted create exits 0")
	}
	select {
	case <-cancelled:
	default:
		t.Fatal("Ctrl-C did not cancel the operation")
	}
	if !strings.Contains(stderr.String(), "cancelling operation op3") || !strings.Contains(stderr.String(), "operation op3 cancelled") {
		t.Errorf("stderr %q", stderr.String())
	}
}

func TestOpsCommands(t *testing.T) {
	f := newFakeDaemon(t)
	start := time.Now().Add(-90 * time.Second)
	ops := []api.Operation{
		{ID: "op1", Kind: "vm create", Target: "box", State: api.OpRunning, Step: "boot", Started: start},
		{ID: "op2", Kind: "image pull", Target: "alpine:3", State: api.OpFailed, Error: "no such image", Started: start, Ended: start.Add(5 * time.Second)},
	}
	f.reply("GET /v1/ops", ops)
	f.reply("GET /v1/ops/op2", ops[1])
	f.stream("POST /v1/ops/op1/wait", opEvent(t, ops[0]), api.Event{Type: "log", Step: "ready", Message: "VM box ready"},
		result(t, api.Operation{ID: "op1", Kind: "vm create", Target: "box", State: api.OpSucceeded}))
	f.stream("POST /v1/ops/op2/wait", result(t, ops[1]))
	f.reply("POST /v1/ops/op1/cancel", api.Operation{ID: "op1", Kind: "vm create", Target: "box", State: api.OpCancelled})

	r := f.cli("ops", "list", "--all")
	wantExit(t, r, 0)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[1], "running") || !strings.Contains(lines[2], "5s") {
		t.Errorf("ops list:\n%s", r.stdout)
	}
	if seen := f.seen(); seen[len(seen)-1] != "GET /v1/ops?all=1" {
		t.Errorf("requests %v", seen)
	}
	r = f.cli("ops", "show", "op2")
	if wantExit(t, r, 0); !strings.Contains(r.stdout, "no such image") || !strings.Contains(r.stdout, "failed") {
		t.Errorf("ops show:\n%s", r.stdout)
	}
	r = f.cli("ops", "wait", "op1")
	if wantExit(t, r, 0); r.stdout != "op1 vm create box succeeded\n" || r.stderr != "VM box ready\n" {
		t.Errorf("ops wait: stdout %q stderr %q", r.stdout, r.stderr)
	}
	r = f.cli("ops", "wait", "op2")
	if wantExit(t, r, 1); !strings.Contains(r.stderr, "op2") || !strings.Contains(r.stderr, "no such image") {
		t.Errorf("ops wait of a failed operation: stderr %q", r.stderr)
	}
	r = f.cli("ops", "cancel", "op1")
	if wantExit(t, r, 0); r.stdout != "op1 vm create box cancelled\n" {
		t.Errorf("ops cancel: %q", r.stdout)
	}
}
