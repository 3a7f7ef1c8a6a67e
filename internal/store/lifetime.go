package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AutoStopDefault is Lifetime.AutoStop for a VM that follows the daemon's
// default (the config's auto_stop_stale_after).
const AutoStopDefault time.Duration = -1

// StoppedIdle is Lifetime.StoppedReason of a VM stopped for idleness.
const StoppedIdle = "idle"

// Lifetime is when a VM stops or goes away by itself.
type Lifetime struct {
	// AutoStop is how long the VM may stay idle before it is stopped:
	// AutoStopDefault follows the daemon's default, 0 never stops it.
	AutoStop time.Duration
	// ExpiresAt is when the VM is deleted (its time to live ends); zero
	// means never.
	ExpiresAt time.Time
	// StoppedReason says why the VM last stopped when nobody asked it to
	// (StoppedIdle); every state change clears it.
	StoppedReason string
}

const lifetimeCols = "id, auto_stop_seconds, expires_at, stopped_reason"

func scanLifetime(r scanner) (string, Lifetime, error) {
	var (
		id, expires string
		secs        int64
		l           Lifetime
	)
	if err := r.Scan(&id, &secs, &expires, &l.StoppedReason); err != nil {
		return "", Lifetime{}, err
	}
	l.AutoStop = AutoStopDefault
	if secs >= 0 {
		l.AutoStop = time.Duration(secs) * time.Second
	}
	if expires != "" {
		t, err := parseTime(expires)
		if err != nil {
			return "", Lifetime{}, err
		}
		l.ExpiresAt = t
	}
	return id, l, nil
}

// VMLifetimes returns the lifetime of every VM, by VM id.
func (s *Store) VMLifetimes(ctx context.Context) (map[string]Lifetime, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+lifetimeCols+" FROM vms")
	if err != nil {
		return nil, fmt.Errorf("listing vm lifetimes: %w", err)
	}
	defer rows.Close()
	out := map[string]Lifetime{}
	for rows.Next() {
		id, l, err := scanLifetime(rows)
		if err != nil {
			return nil, fmt.Errorf("listing vm lifetimes: %w", err)
		}
		out[id] = l
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing vm lifetimes: %w", err)
	}
	return out, nil
}

// VMLifetime returns the lifetime of VM id.
func (s *Store) VMLifetime(ctx context.Context, id string) (Lifetime, error) {
	_, l, err := scanLifetime(s.db.QueryRowContext(ctx, "SELECT "+lifetimeCols+" FROM vms WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Lifetime{}, fmt.Errorf("vm %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return Lifetime{}, fmt.Errorf("vm %q lifetime: %w", id, err)
	}
	return l, nil
}

// SetVMAutoStop records how long VM id may stay idle (AutoStopDefault:
// the daemon's default; 0: never stopped for idleness).
func (s *Store) SetVMAutoStop(ctx context.Context, id string, d time.Duration) error {
	secs := int64(-1)
	if d >= 0 {
		secs = int64(d / time.Second)
	}
	return s.setLifetimeCol(ctx, id, "auto_stop_seconds", secs)
}

// SetVMExpiry records when VM id is deleted; the zero time means never.
func (s *Store) SetVMExpiry(ctx context.Context, id string, at time.Time) error {
	v := ""
	if !at.IsZero() {
		v = formatTime(at)
	}
	return s.setLifetimeCol(ctx, id, "expires_at", v)
}

// SetVMStoppedReason records why VM id stopped by itself (see
// Lifetime.StoppedReason).
func (s *Store) SetVMStoppedReason(ctx context.Context, id, reason string) error {
	return s.setLifetimeCol(ctx, id, "stopped_reason", reason)
}

// setLifetimeCol sets one of the lifetime columns (a constant of this
// file, never caller input) of VM id.
func (s *Store) setLifetimeCol(ctx context.Context, id, col string, v any) error {
	res, err := s.db.ExecContext(ctx, "UPDATE vms SET "+col+" = ? WHERE id = ?", v, id)
	if err != nil {
		return fmt.Errorf("updating vm %q %s: %w", id, col, err)
	}
	return checkAffected(res, "vm", id)
}
