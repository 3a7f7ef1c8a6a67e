package daemon

import (
	"context"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/store"
	"banger/internal/vm"
)

// The API carries --auto-stop and --ttl in, and the idle time, the stop
// time, the expiry and why a VM stopped out.
func TestLifetimeOverTheAPI(t *testing.T) {
	d := newTestDaemon(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	d.env.Service.Lifetimes = vm.Lifetimes{Now: func() time.Time { return now },
		Load: func(context.Context, store.VM) (float64, error) { return 0, nil }}
	v := d.create(t, api.CreateVM{Name: "brief", AutoStop: "20s", TTL: "1h"})
	if v.AutoStopSeconds != 20 || v.ExpiresAt == nil || !v.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("created: auto_stop_seconds %d expires_at %v; want 20, %s", v.AutoStopSeconds, v.ExpiresAt, now.Add(time.Hour))
	}
	d.env.Service.CheckLifetimes(ctx)
	v, err := d.client.GetVM(ctx, "brief")
	if err != nil {
		t.Fatal(err)
	}
	if v.IdleSince == nil || !v.IdleSince.Equal(now) || v.StopsAt == nil || !v.StopsAt.Equal(now.Add(20*time.Second)) {
		t.Fatalf("idle_since %v stops_at %v; want %s and 20s later", v.IdleSince, v.StopsAt, now)
	}
	now = now.Add(20 * time.Second)
	d.env.Service.CheckLifetimes(ctx)
	if v, _ = d.client.GetVM(ctx, "brief"); v.State != "stopped" || v.StoppedReason != "idle" || v.IdleSince != nil {
		t.Fatalf("after 20s idle: state %q reason %q idle_since %v", v.State, v.StoppedReason, v.IdleSince)
	}
	ttl := "2h"
	v, err = d.client.SetVM(ctx, "brief", api.SetVM{TTL: &ttl})
	if err != nil || v.ExpiresAt == nil || !v.ExpiresAt.Equal(now.Add(2*time.Hour)) {
		t.Fatalf("set ttl 2h: %v, %v", v.ExpiresAt, err)
	}
	_, err = d.client.CreateVM(ctx, api.CreateVM{TTL: "yesterday"}, nil)
	if e := apiErr(t, err); e.Kind != api.KindBadRequest {
		t.Errorf("create --ttl yesterday: %v, want a bad request", e)
	}
}
