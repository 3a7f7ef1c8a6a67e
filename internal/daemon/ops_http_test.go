package daemon

import (
	"context"
	"errors"
	"os"
	"testing"

	"banger/internal/api"
	"banger/internal/store"
)

// startCreate creates req in the background, holding the boot until
// release is closed or the create's context ends; it returns, once the
// boot is held, the operation named by the stream's first event and the
// create's outcome.
func startCreate(t *testing.T, d *testDaemon, ctx context.Context, req api.CreateVM, release <-chan struct{}) (api.Operation, <-chan error) {
	t.Helper()
	booting := make(chan struct{})
	d.env.HoldReady(func(ctx context.Context) error {
		close(booting)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	opc, errc := make(chan api.Operation, 1), make(chan error, 1)
	go func() {
		_, err := d.client.CreateVM(ctx, req, func(ev api.Event) {
			if op, ok := api.OperationOf(ev); ok {
				opc <- op
			}
		})
		errc <- err
	}()
	select {
	case op := <-opc:
		<-booting
		return op, errc
	case err := <-errc:
		t.Fatalf("create ended before naming its operation: %v", err)
	}
	return api.Operation{}, nil
}

// TestClientLeavingDoesNotCancelCreate: a client that goes away during
// the boot no longer cancels the create (before, the request's context
// was the create's); `ops wait` re-attaches and sees it end running.
func TestClientLeavingDoesNotCancelCreate(t *testing.T) {
	d := newTestDaemon(t)
	ctx := context.Background()
	cctx, leave := context.WithCancel(ctx)
	release := make(chan struct{})
	op, errc := startCreate(t, d, cctx, api.CreateVM{Name: "left"}, release)
	leave()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("the client that left got %v", err)
	}
	if rec, err := d.client.GetOperation(ctx, op.ID); err != nil || rec.State != api.OpRunning {
		t.Fatalf("operation after the client left: %+v, %v; want running", rec, err)
	}
	// ops wait draws the latest progress at once; the boot goes on then.
	var events []api.Event
	rec, err := d.client.WaitOperation(ctx, op.ID, func(ev api.Event) {
		if len(events) == 0 {
			close(release)
		}
		events = append(events, ev)
	})
	if err != nil || rec.State != api.OpSucceeded || rec.Kind != "vm create" || rec.Target != "left" || rec.Ended.IsZero() {
		t.Errorf("ops wait = %+v, %v", rec, err)
	}
	if len(events) < 2 || events[0].Type != api.EventOperation || events[1].Message == "" {
		t.Errorf("ops wait drew %+v; want the operation, then its latest progress", events)
	}
	if v, err := d.env.Store.GetVM(ctx, "left"); err != nil || v.State != store.VMStateRunning {
		t.Errorf("VM after the create its client left: %+v, %v; want running", v, err)
	}
	recent, err := d.client.ListOperations(ctx, false)
	if err != nil || len(recent) != 1 || recent[0].ID != op.ID {
		t.Errorf("ops list = %+v, %v", recent, err)
	}
}

// TestCancelCreateLeavesNothing: `ops cancel` during the boot undoes the
// whole create: no VM row, tap, VMM process, NAT rule or file.
func TestCancelCreateLeavesNothing(t *testing.T) {
	d := newTestDaemon(t)
	ctx := context.Background()
	pid := d.env.VMM.NextPID()
	yes := true
	op, errc := startCreate(t, d, ctx, api.CreateVM{Name: "doomed", NAT: &yes}, make(chan struct{}))
	rec, err := d.client.CancelOperation(ctx, op.ID)
	if err != nil || rec.State != api.OpCancelled || rec.Error == "" {
		t.Fatalf("cancel = %+v, %v; want cancelled with its reason", rec, err)
	}
	if err := <-errc; err == nil {
		t.Fatal("the cancelled create succeeded")
	} else if e := apiErr(t, err); e.OpID != op.ID {
		t.Errorf("the create's error names op %q; want its operation %q", e.OpID, op.ID)
	}
	if _, err := d.env.Store.GetVM(ctx, "doomed"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("VM row after cancel: %v, want none", err)
	}
	if taps := d.env.Links.Taps(); len(taps) != 0 {
		t.Errorf("taps after cancel: %v", taps)
	}
	if nat, _ := d.env.NAT.List(ctx); len(nat) != 0 {
		t.Errorf("NAT rules after cancel: %v", nat)
	}
	if d.env.VMM.Alive(pid) {
		t.Errorf("VMM process %d alive after cancel", pid)
	}
	for _, dir := range []string{d.env.Service.VMsDir, d.env.Service.RuntimeDir} {
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%s after cancel holds %d entries", dir, len(ents))
		}
	}
	if again, _ := d.client.CancelOperation(ctx, op.ID); again.State != api.OpCancelled {
		t.Errorf("cancelling a finished operation: %+v", again)
	}
	if _, err := d.client.GetOperation(ctx, "nosuchop"); apiErr(t, err).Kind != api.KindNotFound {
		t.Errorf("unknown operation: %v", err)
	}
}
