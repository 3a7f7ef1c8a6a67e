package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"banger/internal/api"
)

func TestCreateSendsAutoStopAndTTL(t *testing.T) {
	f := newFakeDaemon(t)
	f.stream("POST /v1/vms", result(t, testVMs()[0]))
	wantExit(t, f.cli("vm", "create", "--auto-stop", "20s", "--ttl", "2h"), 0)
	var req api.CreateVM
	f.body("POST", "/v1/vms", &req)
	if req.AutoStop != "20s" || req.TTL != "2h" {
		t.Errorf("create request auto_stop %q ttl %q, want 20s 2h", req.AutoStop, req.TTL)
	}
	for _, args := range [][]string{{"vm", "create", "--ttl", "soon"}, {"vm", "run", "--auto-stop", "5ms"}} {
		r := f.cli(args...)
		wantExit(t, r, 1)
		if !strings.Contains(r.stderr, "use a duration from 1s") {
			t.Errorf("%v: stderr %q", args, r.stderr)
		}
	}
}

func TestListShowsStoppedIdle(t *testing.T) {
	f := newFakeDaemon(t)
	vms := testVMs()
	vms[1].StoppedReason = "idle"
	f.reply("GET /v1/vms", vms)
	r := f.cli("vm", "list")
	wantExit(t, r, 0)
	if !strings.Contains(r.stdout, "web1         stopped (idle)  ") {
		t.Errorf("vm list does not say stopped (idle):\n%s", r.stdout)
	}
}

func TestShowPrintsIdleTimeAndTimeLeft(t *testing.T) {
	f := newFakeDaemon(t)
	v := testVMs()[0]
	now := time.Now()
	idle, stops, expires := now.Add(-5*time.Minute), now.Add(25*time.Minute), now.Add(2*time.Hour)
	v.AutoStopSeconds, v.IdleSince, v.StopsAt, v.ExpiresAt = 1800, &idle, &stops, &expires
	f.reply("GET /v1/vms/happy-otter", v)
	r := f.cli("vm", "show", "happy-otter")
	wantExit(t, r, 0)
	for _, want := range []string{"auto-stop:  after 30m0s idle\n", "idle:       for 5m", "stops:      in 2", " if it stays idle\n",
		"ttl:        in ", " it is deleted\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("vm show lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestSetTTL(t *testing.T) {
	f := newFakeDaemon(t)
	var got api.SetVM
	f.handle("PATCH /v1/vms/dev", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
		at := time.Now().Add(time.Hour)
		writeFakeJSON(w, http.StatusOK, api.VM{Name: "dev", VCPUs: 1, MemoryMiB: 512, ExpiresAt: &at})
	})
	r := f.cli("vm", "set", "dev", "--ttl", "1h")
	wantExit(t, r, 0)
	if got.TTL == nil || *got.TTL != "1h" || got.AutoStop != nil || got.VCPUs != nil {
		t.Errorf("set request %+v, want only ttl 1h", got)
	}
	if !strings.Contains(r.stdout, "dev: deleted in 59m") && !strings.Contains(r.stdout, "dev: deleted in 1h0m0s") {
		t.Errorf("vm set --ttl: %q", r.stdout)
	}
	r = f.cli("vm", "set", "dev", "--ttl", "whenever")
	wantExit(t, r, 1)
}
