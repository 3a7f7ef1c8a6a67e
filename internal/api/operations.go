package api

import (
	"context"
	"encoding/json"
	"io"
	"time"
)

// Operation is the record of a long operation (GET /v1/ops/{id}).
type Operation struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`             // "vm create", "vm start", "image pull", ...
	Target  string    `json:"target,omitempty"` // the VM or image, when known
	State   string    `json:"state"`            // running, succeeded, failed or cancelled
	Step    string    `json:"step,omitempty"`   // the latest progress
	Message string    `json:"message,omitempty"`
	Done    int64     `json:"done,omitempty"`
	Total   int64     `json:"total,omitempty"`
	Error   string    `json:"error,omitempty"`
	UID     int       `json:"uid"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitzero"`
}

// Operation states.
const (
	OpRunning   = "running"
	OpSucceeded = "succeeded"
	OpFailed    = "failed"
	OpCancelled = "cancelled"
)

// EventOperation is the type of the event that names the operation a
// stream follows. It comes before the operation's first progress event;
// an operation that ends before sending any has none.
const EventOperation = "operation"

// OperationOf returns the operation an event of type EventOperation names.
func OperationOf(ev Event) (Operation, bool) {
	var op Operation
	if ev.Type != EventOperation || json.Unmarshal(ev.Result, &op) != nil || op.ID == "" {
		return Operation{}, false
	}
	return op, true
}

// ListOperations lists the operations the caller may see: the running ones
// and those of the last hour, or with all every one kept.
func (c *Client) ListOperations(ctx context.Context, all bool) ([]Operation, error) {
	q := ""
	if all {
		q = "?all=1"
	}
	resp, err := send(ctx, c, Endpoints.ListOps, Empty{}, q)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []Operation
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxReply)).Decode(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// GetOperation shows one operation.
func (c *Client) GetOperation(ctx context.Context, id string) (Operation, error) {
	return call(ctx, c, Endpoints.GetOp, Empty{}, id)
}

// WaitOperation attaches to an operation, streaming its progress from its
// latest event on, and returns its record once it has ended (at once for
// one that has).
func (c *Client) WaitOperation(ctx context.Context, id string, onEvent func(Event)) (Operation, error) {
	return stream(ctx, c, Endpoints.WaitOp, Empty{}, onEvent, id)
}

// CancelOperation cancels an operation and returns its record once it has
// undone its work.
func (c *Client) CancelOperation(ctx context.Context, id string) (Operation, error) {
	return call(ctx, c, Endpoints.CancelOp, Empty{}, id)
}
