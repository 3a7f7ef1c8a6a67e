package vm

import (
	"context"
	"time"

	"banger/internal/store"
	"banger/internal/units"
)

// lifetimeOf is the lifetime a create request asks for, its expiry
// counted from now: AutoStop "" follows the daemon's default.
func lifetimeOf(req CreateRequest, now time.Time) (store.Lifetime, error) {
	l := store.Lifetime{AutoStop: store.AutoStopDefault}
	if req.AutoStop != "" {
		d, err := units.ParseLifetime("--auto-stop", req.AutoStop)
		if err != nil {
			return l, badRequest("%v", err)
		}
		l.AutoStop = d
	}
	ttl, err := units.ParseLifetime("--ttl", req.TTL)
	if err != nil {
		return l, badRequest("%v", err)
	}
	if ttl > 0 {
		l.ExpiresAt = now.Add(ttl).UTC()
	}
	return l, nil
}

// recordLifetime writes the lifetime req asks for into the row of the
// VM being created, rec.
func (s *Service) recordLifetime(ctx context.Context, rec store.VM, req CreateRequest) error {
	l, err := lifetimeOf(req, s.Lifetimes.now())
	if err != nil {
		return err
	}
	if l.AutoStop != store.AutoStopDefault {
		if err := s.Store.SetVMAutoStop(ctx, rec.ID, l.AutoStop); err != nil {
			return err
		}
	}
	if !l.ExpiresAt.IsZero() {
		return s.Store.SetVMExpiry(ctx, rec.ID, l.ExpiresAt)
	}
	return nil
}

// setLifetime applies a SetRequest's --ttl and --auto-stop to v: a TTL
// counts from now ("off" removes it).
func (s *Service) setLifetime(ctx context.Context, v store.VM, req SetRequest) error {
	if req.AutoStop != nil {
		d, err := units.ParseLifetime("--auto-stop", *req.AutoStop)
		if err != nil {
			return badRequest("%v", err)
		}
		if err := s.Store.SetVMAutoStop(ctx, v.ID, d); err != nil {
			return err
		}
	}
	if req.TTL == nil {
		return nil
	}
	ttl, err := units.ParseLifetime("--ttl", *req.TTL)
	if err != nil {
		return badRequest("%v", err)
	}
	var at time.Time
	if ttl > 0 {
		at = s.Lifetimes.now().Add(ttl).UTC()
	}
	s.Log.InfoContext(ctx, "vm time to live set", "vm", v.Name, "ttl", ttl, "expires_at", at)
	return s.Store.SetVMExpiry(ctx, v.ID, at)
}

// checkLifetime validates a SetRequest's lifetime fields before anything
// changes.
func (req SetRequest) checkLifetime() error {
	for _, f := range []struct {
		flag string
		v    *string
	}{{"--auto-stop", req.AutoStop}, {"--ttl", req.TTL}} {
		if f.v == nil {
			continue
		}
		if _, err := units.ParseLifetime(f.flag, *f.v); err != nil {
			return badRequest("%v", err)
		}
	}
	return nil
}

// autoStopOf is how long a VM with lifetime l may stay idle; 0 never.
func (s *Service) autoStopOf(l store.Lifetime) time.Duration {
	if l.AutoStop == store.AutoStopDefault {
		return s.Lifetimes.AutoStop
	}
	return l.AutoStop
}

// lifetimeInfo fills in in's lifetime: its settings, and for a running VM
// since when it has been idle.
func (s *Service) lifetimeInfo(ctx context.Context, in *Info) {
	l, err := s.Store.VMLifetime(ctx, in.ID)
	if err != nil {
		return
	}
	in.AutoStop = s.autoStopOf(l)
	in.ExpiresAt = l.ExpiresAt
	if in.Running {
		in.IdleSince = s.idle.since(in.ID)
	} else if in.State == store.VMStateStopped {
		in.StoppedReason = l.StoppedReason
	}
}
