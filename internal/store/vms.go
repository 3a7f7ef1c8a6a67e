package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Desired/last-known VM states.
const (
	VMStateCreated = "created"
	VMStateRunning = "running"
	VMStateStopped = "stopped"
)

// VM is the durable record of a microVM. Runtime handles (pid, tap,
// sockets) are not stored here.
type VM struct {
	ID        string
	Name      string
	ImageID   string
	VCPUs     int
	MemoryMiB int
	DiskBytes int64
	NAT       bool
	IP        string // unique when set
	MAC       string // unique when set
	Backend   string // the name of the VMM backend that runs it
	GuestCID  uint32 // vsock CID; unique when non-zero
	// RootDisk is the root disk the backend made: a path relative to the
	// VM's directory (or absolute), and RootFormat its format. Both are
	// empty for VMs created before they were recorded.
	RootDisk   string
	RootFormat string
	// OwnerUID is the uid of the user who created the VM (0, root, for
	// VMs made before owners were recorded).
	OwnerUID int
	// Init is the init the VM boots when not its image's: "agent" or
	// "systemd"; empty for the image's.
	Init      string
	State     string // one of VMStateCreated, VMStateRunning, VMStateStopped
	CreatedAt time.Time
	UpdatedAt time.Time
}

const vmCols = "id, name, image_id, vcpus, memory_mib, disk_bytes, nat, ip, mac, backend, guest_cid, state, created_at, updated_at, root_disk, root_format, owner_uid, init"

func validState(s string) bool {
	return s == VMStateCreated || s == VMStateRunning || s == VMStateStopped
}

// CreateVM inserts vm. An empty ID is replaced by NewID(), an empty State
// by "created", and zero timestamps by the current time; the stored record
// is returned. Duplicate name, IP, MAC or guest CID yields ErrAlreadyExists;
// an unknown ImageID yields ErrNotFound.
func (s *Store) CreateVM(ctx context.Context, vm VM) (VM, error) {
	if vm.Name == "" {
		return VM{}, errors.New("creating vm: name is required")
	}
	if vm.ImageID == "" {
		return VM{}, fmt.Errorf("creating vm %q: image id is required", vm.Name)
	}
	if vm.VCPUs <= 0 || vm.MemoryMiB <= 0 || vm.DiskBytes < 0 {
		return VM{}, fmt.Errorf("creating vm %q: vcpus and memory must be positive and disk non-negative (got %d, %d MiB, %d bytes)",
			vm.Name, vm.VCPUs, vm.MemoryMiB, vm.DiskBytes)
	}
	if vm.State == "" {
		vm.State = VMStateCreated
	}
	if !validState(vm.State) {
		return VM{}, fmt.Errorf("creating vm %q: invalid state %q (want created, running or stopped)", vm.Name, vm.State)
	}
	if vm.ID == "" {
		vm.ID = NewID()
	}
	now := s.now()
	if vm.CreatedAt.IsZero() {
		vm.CreatedAt = now
	}
	if vm.UpdatedAt.IsZero() {
		vm.UpdatedAt = vm.CreatedAt
	}
	vm.CreatedAt, vm.UpdatedAt = vm.CreatedAt.UTC(), vm.UpdatedAt.UTC()
	var cid sql.NullInt64
	if vm.GuestCID != 0 {
		cid = sql.NullInt64{Int64: int64(vm.GuestCID), Valid: true}
	}
	_, err := s.db.ExecContext(ctx,
		"INSERT INTO vms("+vmCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		vm.ID, vm.Name, vm.ImageID, vm.VCPUs, vm.MemoryMiB, vm.DiskBytes, boolInt(vm.NAT),
		nullString(vm.IP), nullString(vm.MAC), vm.Backend, cid, vm.State,
		formatTime(vm.CreatedAt), formatTime(vm.UpdatedAt), vm.RootDisk, vm.RootFormat, vm.OwnerUID, vm.Init)
	if err != nil {
		switch {
		case isUnique(err):
			return VM{}, duplicateError("vm", err, map[string]string{
				"id": vm.ID, "name": vm.Name, "ip": vm.IP, "mac": vm.MAC,
				"guest_cid": strconv.FormatUint(uint64(vm.GuestCID), 10),
			})
		case isForeignKey(err):
			return VM{}, fmt.Errorf("creating vm %q: image %q: %w", vm.Name, vm.ImageID, ErrNotFound)
		}
		return VM{}, fmt.Errorf("creating vm %q: %w", vm.Name, err)
	}
	return vm, nil
}

// GetVM looks a VM up by ID, or failing that by name.
func (s *Store) GetVM(ctx context.Context, idOrName string) (VM, error) {
	return getByIDOrName(ctx, s.db, scanVM, "vm", "vms", vmCols, idOrName)
}

// ListVMs returns all VMs ordered by name.
func (s *Store) ListVMs(ctx context.Context) ([]VM, error) {
	return queryAll(ctx, s.db, scanVM, "listing vms", "SELECT "+vmCols+" FROM vms ORDER BY name")
}

// VMsUsingImage returns the VMs built from imageID.
func (s *Store) VMsUsingImage(ctx context.Context, imageID string) ([]VM, error) {
	return queryAll(ctx, s.db, scanVM, fmt.Sprintf("listing vms using image %q", imageID),
		"SELECT "+vmCols+" FROM vms WHERE image_id = ? ORDER BY name", imageID)
}

// UpdateVMState records the desired/last-known state of VM id and bumps
// its UpdatedAt. It clears the VM's stopped reason (see Lifetime).
func (s *Store) UpdateVMState(ctx context.Context, id, state string) error {
	if !validState(state) {
		return fmt.Errorf("updating vm %q: invalid state %q (want created, running or stopped)", id, state)
	}
	res, err := s.db.ExecContext(ctx, "UPDATE vms SET state = ?, updated_at = ?, stopped_reason = '' WHERE id = ?",
		state, formatTime(s.now()), id)
	if err != nil {
		return fmt.Errorf("updating vm %q state to %q: %w", id, state, err)
	}
	return checkAffected(res, "vm", id)
}

// UpdateVMSpec records a VM's vCPUs, memory and NAT setting.
func (s *Store) UpdateVMSpec(ctx context.Context, id string, vcpus, memoryMiB int, nat bool) error {
	if vcpus <= 0 || memoryMiB <= 0 {
		return fmt.Errorf("updating vm %q: vcpus and memory must be positive", id)
	}
	res, err := s.db.ExecContext(ctx, "UPDATE vms SET vcpus = ?, memory_mib = ?, nat = ?, updated_at = ? WHERE id = ?",
		vcpus, memoryMiB, boolInt(nat), formatTime(s.now()), id)
	if err != nil {
		return fmt.Errorf("updating vm %q: %w", id, err)
	}
	return checkAffected(res, "vm", id)
}

// SetVMRootDisk records the root disk the backend made for VM id.
func (s *Store) SetVMRootDisk(ctx context.Context, id, path, format string) error {
	if path == "" || format == "" {
		return fmt.Errorf("updating vm %q: root disk path and format are required", id)
	}
	res, err := s.db.ExecContext(ctx, "UPDATE vms SET root_disk = ?, root_format = ?, updated_at = ? WHERE id = ?",
		path, format, formatTime(s.now()), id)
	if err != nil {
		return fmt.Errorf("updating vm %q root disk: %w", id, err)
	}
	return checkAffected(res, "vm", id)
}

// DeleteVM removes the VM with the given ID (ErrNotFound if absent).
func (s *Store) DeleteVM(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, "DELETE FROM vms WHERE id = ?", id)
	if err != nil {
		return fmt.Errorf("deleting vm %q: %w", id, err)
	}
	return checkAffected(res, "vm", id)
}

// UsedIPs returns the set of IP addresses assigned to VMs.
func (s *Store) UsedIPs(ctx context.Context) (map[string]bool, error) {
	ips, err := queryAll(ctx, s.db, scanColumn[string], "listing used ips", "SELECT ip FROM vms WHERE ip IS NOT NULL")
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, ip := range ips {
		out[ip] = true
	}
	return out, nil
}

// UsedCIDs returns the set of vsock guest CIDs assigned to VMs.
func (s *Store) UsedCIDs(ctx context.Context) (map[uint32]bool, error) {
	cids, err := queryAll(ctx, s.db, scanColumn[int64], "listing used cids", "SELECT guest_cid FROM vms WHERE guest_cid IS NOT NULL")
	if err != nil {
		return nil, err
	}
	out := map[uint32]bool{}
	for _, cid := range cids {
		out[uint32(cid)] = true
	}
	return out, nil
}

func scanVM(r scanner) (VM, error) {
	var (
		vm               VM
		nat              int
		ip, mac          sql.NullString
		cid              sql.NullInt64
		created, updated string
	)
	if err := r.Scan(&vm.ID, &vm.Name, &vm.ImageID, &vm.VCPUs, &vm.MemoryMiB, &vm.DiskBytes, &nat,
		&ip, &mac, &vm.Backend, &cid, &vm.State, &created, &updated, &vm.RootDisk, &vm.RootFormat, &vm.OwnerUID, &vm.Init); err != nil {
		return VM{}, err
	}
	vm.NAT = nat != 0
	vm.IP, vm.MAC = ip.String, mac.String
	if cid.Valid {
		vm.GuestCID = uint32(cid.Int64)
	}
	var err error
	if vm.CreatedAt, err = parseTime(created); err != nil {
		return VM{}, err
	}
	if vm.UpdatedAt, err = parseTime(updated); err != nil {
		return VM{}, err
	}
	return vm, nil
}
