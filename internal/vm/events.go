package vm

import (
	"context"
	"time"

	"banger/internal/event"
)

// EventKind says what happened.
type EventKind string

// The events the service publishes.
const (
	VMCreated   EventKind = "vm-created"
	VMStarted   EventKind = "vm-started"
	VMStopped   EventKind = "vm-stopped" // stopped, killed, or its process exited
	VMDeleted   EventKind = "vm-deleted"
	BridgeReady EventKind = "bridge-ready" // the bridge exists and holds the gateway address
	// VMIdleStopped follows the VMStopped of a VM stopped for being idle,
	// and VMExpired the VMDeleted of one whose time to live ended; Reason
	// says more.
	VMIdleStopped EventKind = "vm-idle-stopped"
	VMExpired     EventKind = "vm-expired"
)

// Event is something that happened to a VM or to the host network.
type Event struct {
	Kind   EventKind
	ID     string // the VM's id; empty for BridgeReady
	Name   string // the VM's name; empty for BridgeReady
	Bridge string // for BridgeReady
	Reason string // for VMIdleStopped and VMExpired
}

// settleTimeout bounds how long an operation waits for the subscribers of
// its events before it returns.
const settleTimeout = 2 * time.Second

// Subscribe calls fn with every event the service publishes from now on, in
// order, on a goroutine of the subscription's own (see package event).
// Close the subscription, or the service, to stop.
func (s *Service) Subscribe(fn func(Event)) *event.Subscription[Event] {
	return s.events.Subscribe(fn)
}

// publish sends ev and gives the subscribers up to settleTimeout to handle
// it, so that what they derive (banger's ssh config) is current when the
// operation returns to its caller. A slow subscriber delays the caller by
// that bound at most; it never blocks the service.
func (s *Service) publish(ctx context.Context, ev Event) {
	done := s.events.Publish(ev)
	t := time.NewTimer(settleTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-ctx.Done():
	case <-t.C:
		s.Log.WarnContext(ctx, "event subscribers are slow", "event", ev.Kind, "vm", ev.Name)
	}
}
