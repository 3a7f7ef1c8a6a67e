package store

import (
	"context"
	"fmt"
	"time"
)

// Operation states.
const (
	OpRunning   = "running"
	OpSucceeded = "succeeded"
	OpFailed    = "failed"
	OpCancelled = "cancelled"
)

// Operation is the record of a long operation (internal/operation keeps
// them): what it is, who asked, its latest progress and how it ended.
type Operation struct {
	ID      string
	Kind    string // "vm create", "vm start", "image pull", ...
	Target  string // the VM or image it works on, when known
	State   string // one of OpRunning, OpSucceeded, OpFailed, OpCancelled
	Step    string // the latest progress
	Message string
	Done    int64
	Total   int64
	Error   string
	UID     int // the caller's uid
	Started time.Time
	Ended   time.Time // zero while running
}

const opCols = "id, kind, target, state, step, message, done, total, error, uid, started_at, ended_at"

// opTime is the form of an operation's times: fixed width, so that the
// database orders and compares them as text correctly (RFC 3339 with
// trimmed fractions does not, within a second). parseTime reads it.
func opTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// PutOperation inserts op or replaces the record with its id.
func (s *Store) PutOperation(ctx context.Context, op Operation) error {
	ended := ""
	if !op.Ended.IsZero() {
		ended = opTime(op.Ended)
	}
	_, err := s.db.ExecContext(ctx, "INSERT OR REPLACE INTO operations("+opCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		op.ID, op.Kind, op.Target, op.State, op.Step, op.Message, op.Done, op.Total, op.Error, op.UID, opTime(op.Started), ended)
	if err != nil {
		return fmt.Errorf("record operation %s: %w", op.ID, err)
	}
	return nil
}

// GetOperation returns the operation with id, or ErrNotFound.
func (s *Store) GetOperation(ctx context.Context, id string) (Operation, error) {
	ops, err := queryAll(ctx, s.db, scanOperation, "get operation", "SELECT "+opCols+" FROM operations WHERE id = ?", id)
	if err != nil {
		return Operation{}, err
	}
	if len(ops) == 0 {
		return Operation{}, fmt.Errorf("operation %q: %w", id, ErrNotFound)
	}
	return ops[0], nil
}

// ListOperations returns every operation, the newest first.
func (s *Store) ListOperations(ctx context.Context) ([]Operation, error) {
	return queryAll(ctx, s.db, scanOperation, "list operations", "SELECT "+opCols+" FROM operations ORDER BY started_at DESC, id")
}

// DeleteOperationsEndedBefore removes the finished operations that ended
// before t and returns how many.
func (s *Store) DeleteOperationsEndedBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, "DELETE FROM operations WHERE state != ? AND ended_at != '' AND ended_at < ?", OpRunning, opTime(t))
	if err != nil {
		return 0, fmt.Errorf("prune operations: %w", err)
	}
	return res.RowsAffected()
}

// FailRunningOperations marks every operation still running as failed
// with reason, ended at t (a daemon that starts: none of them runs any
// more), and returns how many.
func (s *Store) FailRunningOperations(ctx context.Context, reason string, t time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, "UPDATE operations SET state = ?, error = ?, ended_at = ? WHERE state = ?", OpFailed, reason, opTime(t), OpRunning)
	if err != nil {
		return 0, fmt.Errorf("mark interrupted operations: %w", err)
	}
	return res.RowsAffected()
}

func scanOperation(r scanner) (Operation, error) {
	var (
		op             Operation
		started, ended string
	)
	if err := r.Scan(&op.ID, &op.Kind, &op.Target, &op.State, &op.Step, &op.Message, &op.Done, &op.Total, &op.Error, &op.UID, &started, &ended); err != nil {
		return Operation{}, err
	}
	t, err := parseTime(started)
	if err != nil {
		return Operation{}, err
	}
	op.Started = t
	if ended != "" {
		if op.Ended, err = parseTime(ended); err != nil {
			return Operation{}, err
		}
	}
	return op, nil
}
