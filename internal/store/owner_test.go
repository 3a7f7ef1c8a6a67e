package store

import (
	"context"
	"path/filepath"
	"testing"
)

// VMs made before owners were recorded belong to root; a new VM keeps the
// owner it was created with.
func TestVMOwner(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	migs, err := loadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	var old []migration
	for _, m := range migs {
		if m.version < 5 {
			old = append(old, m)
		}
	}
	s, err := openWith(ctx, path, old)
	if err != nil {
		t.Fatal(err)
	}
	img := mustImage(t, s, "img", "")
	if _, err := s.db.ExecContext(ctx, `INSERT INTO vms(id, name, image_id, vcpus, memory_mib, disk_bytes, state, created_at, updated_at)
		VALUES ('0123456789ab', 'old', ?, 1, 512, 0, 'stopped', '2025-01-01T00:00:00Z', '2025-01-01T00:00:00Z')`, img.ID); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
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
