package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Workspace is the repository a VM holds.
type Workspace struct {
	VMID      string
	HostPath  string
	GuestPath string
	Head      string
	UpdatedAt time.Time
}

// SetWorkspace records (or replaces) the workspace of a VM.
func (s *Store) SetWorkspace(ctx context.Context, w Workspace) error {
	if w.HostPath == "" || w.GuestPath == "" {
		return fmt.Errorf("recording workspace of vm %q: host and guest paths are required", w.VMID)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO workspaces (vm_id, host_path, guest_path, head, updated_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT(vm_id) DO UPDATE SET host_path = excluded.host_path, guest_path = excluded.guest_path,
			head = excluded.head, updated_at = excluded.updated_at`,
		w.VMID, w.HostPath, w.GuestPath, w.Head, formatTime(s.now()))
	if err != nil {
		if isForeignKey(err) {
			return fmt.Errorf("recording workspace: vm %q: %w", w.VMID, ErrNotFound)
		}
		return fmt.Errorf("recording workspace of vm %q: %w", w.VMID, err)
	}
	return nil
}

// GetWorkspace returns the workspace of a VM, or ErrNotFound.
func (s *Store) GetWorkspace(ctx context.Context, vmID string) (Workspace, error) {
	var w Workspace
	var updated string
	err := s.db.QueryRowContext(ctx, "SELECT vm_id, host_path, guest_path, head, updated_at FROM workspaces WHERE vm_id = ?", vmID).
		Scan(&w.VMID, &w.HostPath, &w.GuestPath, &w.Head, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return w, fmt.Errorf("workspace of vm %q: %w", vmID, ErrNotFound)
	}
	if err != nil {
		return w, fmt.Errorf("reading workspace of vm %q: %w", vmID, err)
	}
	w.UpdatedAt, err = parseTime(updated)
	return w, err
}
