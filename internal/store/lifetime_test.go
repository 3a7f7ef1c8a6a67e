package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestVMLifetime(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "banger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	img, err := s.CreateImage(ctx, Image{Name: "img", Rootfs: "/r"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := s.CreateVM(ctx, VM{Name: "one", ImageID: img.ID, VCPUs: 1, MemoryMiB: 512})
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.VMLifetime(ctx, v.ID)
	if err != nil || l.AutoStop != AutoStopDefault || !l.ExpiresAt.IsZero() || l.StoppedReason != "" {
		t.Fatalf("a new VM's lifetime = %+v, %v; want the default auto-stop, no expiry, no reason", l, err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, err := range []error{s.SetVMAutoStop(ctx, v.ID, 90*time.Second), s.SetVMExpiry(ctx, v.ID, at),
		s.SetVMStoppedReason(ctx, v.ID, StoppedIdle)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.VMLifetimes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if l := all[v.ID]; l.AutoStop != 90*time.Second || !l.ExpiresAt.Equal(at) || l.StoppedReason != StoppedIdle {
		t.Errorf("lifetime = %+v", l)
	}
	if err := s.UpdateVMState(ctx, v.ID, VMStateRunning); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.VMLifetime(ctx, v.ID); l.StoppedReason != "" || l.AutoStop != 90*time.Second {
		t.Errorf("after a state change: %+v; want the reason cleared, the rest kept", l)
	}
	if err := s.SetVMAutoStop(ctx, v.ID, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetVMExpiry(ctx, v.ID, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.VMLifetime(ctx, v.ID); l.AutoStop != 0 || !l.ExpiresAt.IsZero() {
		t.Errorf("auto-stop off and no expiry: %+v", l)
	}
	if _, err := s.VMLifetime(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown VM: %v", err)
	}
	if err := s.SetVMExpiry(ctx, "nope", at); !errors.Is(err, ErrNotFound) {
		t.Errorf("set on unknown VM: %v", err)
	}
}
