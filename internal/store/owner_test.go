package store

import (
	"context"
	"testing"
)

// VMs made before owners were recorded belong to root; a new VM keeps the
// owner it was created with.
func TestVMOwner(t *testing.T) {
	ctx := context.Background()
	s, img := migrateOldVM(t, 5)
	if v, err := s.GetVM(ctx, "old"); err != nil || v.OwnerUID != 0 {
		t.Fatalf("old VM after the migration: owner %d, %v; want root (0)", v.OwnerUID, err)
	}
	if _, err := s.CreateVM(ctx, VM{Name: "bobs", ImageID: img.ID, VCPUs: 1, MemoryMiB: 512, OwnerUID: 1001}); err != nil {
		t.Fatal(err)
	}
	v, err := s.GetVM(ctx, "bobs")
	if err != nil || v.OwnerUID != 1001 {
		t.Fatalf("GetVM(bobs) owner = %d, %v; want 1001", v.OwnerUID, err)
	}
	all, err := s.ListVMs(ctx)
	if err != nil || len(all) != 2 || all[0].OwnerUID != 1001 || all[1].OwnerUID != 0 {
		t.Fatalf("ListVMs = %+v, %v", all, err)
	}
}
