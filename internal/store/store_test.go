package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func openTest(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state", "banger.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func mustKernel(t *testing.T, s *Store, name string) Kernel {
	t.Helper()
	k, err := s.CreateKernel(context.Background(), Kernel{Name: name, Path: "/k/" + name})
	if err != nil {
		t.Fatalf("CreateKernel(%q): %v", name, err)
	}
	return k
}

func mustImage(t *testing.T, s *Store, name, kernelID string) Image {
	t.Helper()
	img, err := s.CreateImage(context.Background(), Image{Name: name, Rootfs: "/i/" + name, KernelID: kernelID})
	if err != nil {
		t.Fatalf("CreateImage(%q): %v", name, err)
	}
	return img
}

func vmFor(name, imageID, ip string, cid uint32) VM {
	return VM{Name: name, ImageID: imageID, VCPUs: 2, MemoryMiB: 1024, DiskBytes: 8 << 30, IP: ip, GuestCID: cid}
}

func TestOpenCreatesFileWithModeAndWAL(t *testing.T) {
	s, path := openTest(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("db mode = %o, want 600", perm)
	}
	var mode string
	if err := s.db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	var bt int
	if err := s.db.QueryRow("PRAGMA busy_timeout").Scan(&bt); err != nil || bt != 5000 {
		t.Errorf("busy_timeout = %d, %v; want 5000", bt, err)
	}
	var fk int
	if err := s.db.QueryRow("PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
		t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
	}
}

func TestMigrationsIdempotentOnReopen(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t)
	k := mustKernel(t, s, "k1")
	v1, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	migs, err := loadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	if want := migs[len(migs)-1].version; v1 != want {
		t.Fatalf("schema version = %d, want %d", v1, want)
	}
	s.Close()

	for i := 0; i < 2; i++ {
		s2, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		var n int
		if err := s2.db.QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(migs) {
			t.Errorf("reopen %d: %d schema_migrations rows, want %d", i, n, len(migs))
		}
		if _, err := s2.GetKernel(ctx, k.ID); err != nil {
			t.Errorf("reopen %d: data lost: %v", i, err)
		}
		s2.Close()
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t)
	if _, err := s.db.Exec("INSERT INTO schema_migrations(version, name, applied_at) VALUES (9999, 'future', 'x')"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(ctx, path)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open newer schema: err = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "9999") || !strings.Contains(err.Error(), "upgrade banger") {
		t.Errorf("error should name the version and the fix: %v", err)
	}
}

func TestMigrationRollsBackOnFailure(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	migs := []migration{
		{version: 1, name: "ok", sql: "CREATE TABLE a (x INTEGER);"},
		{version: 2, name: "bad", sql: "CREATE TABLE b (x INTEGER); THIS IS NOT SQL;"},
	}
	if _, err := openWith(ctx, path, migs); err == nil || !strings.Contains(err.Error(), "0002_bad") {
		t.Fatalf("openWith bad migration: err = %v, want error naming 0002_bad", err)
	}
	s, err := openWith(ctx, path, migs[:1])
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersion(ctx); v != 1 {
		t.Errorf("schema version = %d, want 1", v)
	}
	var n int
	s.db.QueryRow("SELECT COUNT(*) FROM sqlite_master WHERE name = 'b'").Scan(&n)
	if n != 0 {
		t.Errorf("table b exists; failed migration was not rolled back")
	}
}

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := NewID()
		if !re.MatchString(id) {
			t.Fatalf("NewID() = %q, want 12 lowercase hex chars", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestKernelAndImageRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	created := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("x", 3600))
	k, err := s.CreateKernel(ctx, Kernel{Name: "vmlinux-6.1", Path: "/k/vmlinux", Initrd: "/k/initrd", Version: "6.1.0", Managed: true, CreatedAt: created})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{k.ID, k.Name} {
		got, err := s.GetKernel(ctx, key)
		if err != nil {
			t.Fatalf("GetKernel(%q): %v", key, err)
		}
		if got != k || !got.CreatedAt.Equal(created) || got.CreatedAt.Location() != time.UTC {
			t.Errorf("GetKernel(%q) = %+v, want %+v", key, got, k)
		}
	}

	img, err := s.CreateImage(ctx, Image{Name: "debian-bookworm", Rootfs: "/i/rootfs.ext4", KernelID: k.ID, SizeBytes: 2 << 30, Managed: true, Source: "debootstrap"})
	if err != nil {
		t.Fatal(err)
	}
	if img.ID == "" || img.CreatedAt.IsZero() {
		t.Errorf("CreateImage did not fill ID/CreatedAt: %+v", img)
	}
	bare := mustImage(t, s, "bare", "")
	for _, key := range []string{img.ID, img.Name} {
		got, err := s.GetImage(ctx, key)
		if err != nil || got != img {
			t.Errorf("GetImage(%q) = %+v, %v; want %+v", key, got, err, img)
		}
	}
	list, err := s.ListImages(ctx)
	if err != nil || len(list) != 2 || list[0] != bare || list[1] != img {
		t.Errorf("ListImages = %+v, %v", list, err)
	}
	using, err := s.ImagesUsingKernel(ctx, k.ID)
	if err != nil || len(using) != 1 || using[0].ID != img.ID {
		t.Errorf("ImagesUsingKernel = %+v, %v", using, err)
	}
	ks, err := s.ListKernels(ctx)
	if err != nil || len(ks) != 1 || ks[0] != k {
		t.Errorf("ListKernels = %+v, %v", ks, err)
	}

	// Kernel in use by an image cannot go.
	if err := s.DeleteKernel(ctx, k.ID); !errors.Is(err, ErrInUse) {
		t.Errorf("DeleteKernel in use: %v, want ErrInUse", err)
	}
	// Unknown kernel reference.
	if _, err := s.CreateImage(ctx, Image{Name: "x", Rootfs: "/x", KernelID: "nope"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("CreateImage unknown kernel: %v, want ErrNotFound", err)
	}
	if err := s.DeleteImage(ctx, img.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteKernel(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetKernel(ctx, k.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetKernel after delete: %v, want ErrNotFound", err)
	}
	if err := s.DeleteKernel(ctx, k.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteKernel twice: %v, want ErrNotFound", err)
	}
	if err := s.DeleteImage(ctx, img.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteImage twice: %v, want ErrNotFound", err)
	}
}

func TestVMRoundTripAndState(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	img := mustImage(t, s, "img", "")
	in := VM{Name: "dev", ImageID: img.ID, VCPUs: 2, MemoryMiB: 2048, DiskBytes: 8 << 30, NAT: true,
		IP: "172.30.0.2", MAC: "02:00:ac:1e:00:02", Backend: "vmm-a", GuestCID: 3}
	vm, err := s.CreateVM(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if vm.State != VMStateCreated || vm.ID == "" || vm.CreatedAt.IsZero() || !vm.UpdatedAt.Equal(vm.CreatedAt) {
		t.Errorf("CreateVM defaults not applied: %+v", vm)
	}
	for _, key := range []string{vm.ID, vm.Name} {
		got, err := s.GetVM(ctx, key)
		if err != nil || got != vm {
			t.Errorf("GetVM(%q) = %+v, %v; want %+v", key, got, err, vm)
		}
	}
	if _, err := s.GetVM(ctx, "ghost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetVM ghost: %v, want ErrNotFound", err)
	}

	if err := s.UpdateVMState(ctx, vm.ID, VMStateRunning); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetVM(ctx, vm.ID)
	if got.State != VMStateRunning || got.UpdatedAt.Before(vm.UpdatedAt) {
		t.Errorf("after UpdateVMState: %+v", got)
	}
	if err := s.UpdateVMState(ctx, vm.ID, "exploded"); err == nil {
		t.Error("UpdateVMState accepted invalid state")
	}
	if err := s.UpdateVMState(ctx, "ghost", VMStateStopped); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateVMState ghost: %v, want ErrNotFound", err)
	}

	// A VM with no IP/CID does not collide with others lacking them.
	other, err := s.CreateVM(ctx, vmFor("other", img.ID, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateVM(ctx, vmFor("third", img.ID, "", 0)); err != nil {
		t.Fatalf("second VM without ip/cid: %v", err)
	}
	ips, err := s.UsedIPs(ctx)
	if err != nil || len(ips) != 1 || !ips["172.30.0.2"] {
		t.Errorf("UsedIPs = %v, %v", ips, err)
	}
	cids, err := s.UsedCIDs(ctx)
	if err != nil || len(cids) != 1 || !cids[3] {
		t.Errorf("UsedCIDs = %v, %v", cids, err)
	}
	using, err := s.VMsUsingImage(ctx, img.ID)
	if err != nil || len(using) != 3 {
		t.Errorf("VMsUsingImage = %d VMs, %v; want 3", len(using), err)
	}
	all, err := s.ListVMs(ctx)
	if err != nil || len(all) != 3 || all[0].Name != "dev" || all[1].Name != "other" {
		t.Errorf("ListVMs = %+v, %v", all, err)
	}

	if _, err := s.CreateVM(ctx, vmFor("orphan", "no-such-image", "", 0)); !errors.Is(err, ErrNotFound) {
		t.Errorf("CreateVM unknown image: %v, want ErrNotFound", err)
	}

	if err := s.DeleteVM(ctx, other.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteVM(ctx, other.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteVM twice: %v, want ErrNotFound", err)
	}
}

func TestIDPreferredOverName(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	img := mustImage(t, s, "img", "")
	a, err := s.CreateVM(ctx, vmFor("alpha", img.ID, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	// A VM whose name equals another VM's ID.
	b, err := s.CreateVM(ctx, vmFor(a.ID, img.ID, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetVM(ctx, a.ID)
	if err != nil || got.ID != a.ID {
		t.Errorf("GetVM(%q) = %q, %v; want the VM with that id (not %q)", a.ID, got.ID, err, b.ID)
	}
}

func TestUniqueness(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	k := mustKernel(t, s, "k")
	img := mustImage(t, s, "img", k.ID)
	if _, err := s.CreateVM(ctx, VM{Name: "a", ImageID: img.ID, VCPUs: 1, MemoryMiB: 512, IP: "10.0.0.2", MAC: "02:00:00:00:00:02", GuestCID: 3}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		create  func() error
		wantMsg string
	}{
		{"vm name", func() error {
			_, err := s.CreateVM(ctx, vmFor("a", img.ID, "10.0.0.9", 9))
			return err
		}, `vm name "a": already exists`},
		{"vm ip", func() error {
			_, err := s.CreateVM(ctx, vmFor("b", img.ID, "10.0.0.2", 9))
			return err
		}, `vm ip "10.0.0.2": already exists`},
		{"vm mac", func() error {
			v := vmFor("b", img.ID, "10.0.0.9", 9)
			v.MAC = "02:00:00:00:00:02"
			_, err := s.CreateVM(ctx, v)
			return err
		}, `vm mac "02:00:00:00:00:02": already exists`},
		{"vm cid", func() error {
			_, err := s.CreateVM(ctx, vmFor("b", img.ID, "10.0.0.9", 3))
			return err
		}, `vm guest cid "3": already exists`},
		{"image name", func() error {
			_, err := s.CreateImage(ctx, Image{Name: "img", Rootfs: "/r"})
			return err
		}, `image name "img": already exists`},
		{"image id", func() error {
			_, err := s.CreateImage(ctx, Image{ID: img.ID, Name: "img2", Rootfs: "/r"})
			return err
		}, fmt.Sprintf(`image id %q: already exists`, img.ID)},
		{"kernel name", func() error {
			_, err := s.CreateKernel(ctx, Kernel{Name: "k", Path: "/p"})
			return err
		}, `kernel name "k": already exists`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.create()
			if !errors.Is(err, ErrAlreadyExists) {
				t.Fatalf("err = %v, want ErrAlreadyExists", err)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("err = %q, want %q", err.Error(), tt.wantMsg)
			}
		})
	}
}

func TestDeleteImageUsedByVM(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	img := mustImage(t, s, "img", "")
	vm, err := s.CreateVM(ctx, vmFor("a", img.ID, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteImage(ctx, img.ID); !errors.Is(err, ErrInUse) {
		t.Fatalf("DeleteImage in use: %v, want ErrInUse", err)
	}
	if _, err := s.GetImage(ctx, img.ID); err != nil {
		t.Fatalf("image vanished after refused delete: %v", err)
	}
	if err := s.DeleteVM(ctx, vm.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteImage(ctx, img.ID); err != nil {
		t.Fatalf("DeleteImage after VM gone: %v", err)
	}
}

func TestConcurrentCreateVM(t *testing.T) {
	ctx := context.Background()
	s, path := openTest(t)
	img := mustImage(t, s, "img", "")
	// A second handle on the same file competes for the write lock too.
	s2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()

	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			st := s
			if i%2 == 1 {
				st = s2
			}
			_, err := st.CreateVM(ctx, vmFor(fmt.Sprintf("vm-%02d", i), img.ID, fmt.Sprintf("10.1.0.%d", i+2), uint32(i+3)))
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent CreateVM: %v", err)
		}
	}
	vms, err := s.ListVMs(ctx)
	if err != nil || len(vms) != n {
		t.Errorf("ListVMs = %d, %v; want %d", len(vms), err, n)
	}
}

func TestWorkspaceRoundTripAndCascade(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	k := mustKernel(t, s, "k")
	img := mustImage(t, s, "img", k.ID)
	vm, err := s.CreateVM(ctx, vmFor("ws", img.ID, "10.0.0.2", 3))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetWorkspace(ctx, vm.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no workspace yet: got %v", err)
	}
	if err := s.SetWorkspace(ctx, Workspace{VMID: vm.ID, HostPath: "/src/a", GuestPath: "/root/a", Head: "abc"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetWorkspace(ctx, Workspace{VMID: vm.ID, HostPath: "/src/b", GuestPath: "/root/b", Head: "def"}); err != nil {
		t.Fatal(err)
	}
	w, err := s.GetWorkspace(ctx, vm.ID)
	if err != nil || w.HostPath != "/src/b" || w.GuestPath != "/root/b" || w.Head != "def" {
		t.Fatalf("workspace = %+v, %v", w, err)
	}
	if err := s.SetWorkspace(ctx, Workspace{VMID: "nope", HostPath: "/x", GuestPath: "/root/x"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("workspace of unknown vm: %v", err)
	}
	if err := s.DeleteVM(ctx, vm.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetWorkspace(ctx, vm.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("workspace survived its VM: %v", err)
	}
}

func TestVMRootDisk(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	img := mustImage(t, s, "img", "")
	vm, err := s.CreateVM(ctx, vmFor("disked", img.ID, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	if vm.RootDisk != "" || vm.RootFormat != "" {
		t.Fatalf("new VM has a root disk: %+v", vm)
	}
	if err := s.SetVMRootDisk(ctx, vm.ID, "root.img", "raw"); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetVM(ctx, vm.ID)
	if err != nil || got.RootDisk != "root.img" || got.RootFormat != "raw" {
		t.Fatalf("after SetVMRootDisk: %+v, %v", got, err)
	}
	if err := s.SetVMRootDisk(ctx, vm.ID, "", "raw"); err == nil {
		t.Error("SetVMRootDisk accepted an empty path")
	}
	if err := s.SetVMRootDisk(ctx, "ghost", "root.img", "raw"); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetVMRootDisk ghost: %v, want ErrNotFound", err)
	}
	// CreateVM keeps a root disk given with the row.
	pre := vmFor("pre", img.ID, "", 0)
	pre.RootDisk, pre.RootFormat = "/abs/root.img", "qcow2"
	if pre, err = s.CreateVM(ctx, pre); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetVM(ctx, pre.ID); got.RootDisk != "/abs/root.img" || got.RootFormat != "qcow2" {
		t.Fatalf("CreateVM lost the root disk: %+v", got)
	}
}

// A database made before root disks were recorded keeps its VMs, with an
// empty root disk.
func TestRootDiskMigrationKeepsOldVMs(t *testing.T) {
	ctx := context.Background()
	s, _ := migrateOldVM(t, 4)
	v, err := s.GetVM(ctx, "old")
	if err != nil || v.RootDisk != "" || v.RootFormat != "" || v.State != VMStateStopped {
		t.Fatalf("old VM after the migration: %+v, %v", v, err)
	}
}

// migrateOldVM makes a database with the migrations before version, holding
// one stopped VM called "old" (with only the columns of that time), then
// opens it with every migration. It returns the store and the VM's image.
func migrateOldVM(t *testing.T, version int) (*Store, Image) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	migs, err := loadMigrations(migrationFS)
	if err != nil {
		t.Fatal(err)
	}
	var old []migration
	for _, m := range migs {
		if m.version < version {
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
	t.Cleanup(func() { s.Close() })
	return s, img
}

// TestOperationsOrderAndPruneWithinASecond: operation times compare
// correctly as text even within one second (RFC 3339 with trimmed
// fractions puts 12:00:00Z after 12:00:00.5Z).
func TestOperationsOrderAndPruneWithinASecond(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "banger.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for i, id := range []string{"whole", "half"} {
		at := t0.Add(time.Duration(i) * 500 * time.Millisecond)
		if err := s.PutOperation(ctx, Operation{ID: id, Kind: "vm create", State: OpSucceeded, Started: at, Ended: at}); err != nil {
			t.Fatal(err)
		}
	}
	ops, err := s.ListOperations(ctx)
	if err != nil || len(ops) != 2 || ops[0].ID != "half" {
		t.Fatalf("newest first: %+v, %v", ops, err)
	}
	if n, err := s.DeleteOperationsEndedBefore(ctx, t0.Add(250*time.Millisecond)); err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want the one that ended at 12:00:00", n, err)
	}
	if _, err := s.GetOperation(ctx, "half"); err != nil {
		t.Errorf("the later record was pruned: %v", err)
	}
}
