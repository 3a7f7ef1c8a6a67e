package operation

import (
	"context"
	"testing"

	"banger/internal/store"
)

// TestNote: what the daemon does by itself is listed as a finished
// operation with its reason.
func TestNote(t *testing.T) {
	s, _, _ := newService(t)
	ctx := context.Background()
	if err := s.Note(ctx, "vm idle stop", "dev", "idle for 20s"); err != nil {
		t.Fatal(err)
	}
	ops, err := s.List(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 1 {
		t.Fatalf("%d operations, want 1", len(ops))
	}
	o := ops[0]
	if o.Kind != "vm idle stop" || o.Target != "dev" || o.State != store.OpSucceeded || o.Message != "idle for 20s" || o.Ended.IsZero() {
		t.Errorf("record %+v", o)
	}
}
