package vm

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"banger/internal/agent"
	"banger/internal/store"
)

// The defaults of Lifetimes.
const (
	DefaultCheckInterval = 10 * time.Second
	// DefaultIdleLoad is the guest's 1-minute load average below which
	// its CPU counts as idle.
	DefaultIdleLoad     = 0.25
	DefaultAgentTimeout = 5 * time.Second
)

// Lifetimes configures the daemon's watch over VMs that stop when idle
// (auto-stop) or go away at an age (time to live); see docs/operations.md.
type Lifetimes struct {
	// AutoStop is how long a VM that does not say (--auto-stop) may stay
	// idle before it is stopped: config auto_stop_stale_after; 0 never.
	AutoStop time.Duration
	// Interval is the time between two checks (DefaultCheckInterval when
	// 0): the config's lifetime_check_interval.
	Interval time.Duration
	// IdleLoad is DefaultIdleLoad when 0.
	IdleLoad float64
	// AgentTimeout bounds each call to a guest's agent
	// (DefaultAgentTimeout when 0).
	AgentTimeout time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Load reads a running guest's 1-minute load average; nil asks its
	// agent (method "stats").
	Load func(ctx context.Context, v store.VM) (float64, error)
}

func (l Lifetimes) now() time.Time {
	if l.Now == nil {
		return time.Now()
	}
	return l.Now()
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// WatchLifetimes checks the VMs every Lifetimes.Interval until the
// service closes: see CheckLifetimes.
func (s *Service) WatchLifetimes() {
	every := orDefault(s.Lifetimes.Interval, DefaultCheckInterval)
	s.Log.Info("watching for idle and expired VMs", "every", every.String(), "auto_stop_stale_after", s.Lifetimes.AutoStop.String())
	s.runs.spawn(func(ctx context.Context) {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.CheckLifetimes(ctx)
			}
		}
	})
}

// CheckLifetimes deletes every VM whose time to live has ended, and stops
// every running VM that has been idle for its auto-stop time. Idle means
// no session open through the daemon (Connect), no connection through a
// forward to it since the last check, and the guest's load below
// Lifetimes.IdleLoad or falling (see idleTracker.update).
func (s *Service) CheckLifetimes(ctx context.Context) {
	vms, err := s.Store.ListVMs(ctx)
	if err != nil {
		s.Log.WarnContext(ctx, "check VM lifetimes", "err", err)
		return
	}
	lts, err := s.Store.VMLifetimes(ctx)
	if err != nil {
		s.Log.WarnContext(ctx, "check VM lifetimes", "err", err)
		return
	}
	live := map[string]bool{}
	for _, v := range vms {
		if ctx.Err() != nil {
			return
		}
		l := lts[v.ID]
		now := s.Lifetimes.now()
		if !l.ExpiresAt.IsZero() && !now.Before(l.ExpiresAt) {
			s.expire(ctx, v, l)
			continue
		}
		rt := s.runs.get(v.ID)
		limit := s.autoStopOf(l)
		if rt == nil || limit <= 0 {
			continue
		}
		live[v.ID] = true
		if idle := now.Sub(s.observe(ctx, v, rt, now)); idle >= limit {
			s.stopIdle(ctx, v, rt, idle)
		}
	}
	s.idle.keep(live)
}

// observe samples the activity of v, running as rt, and returns since
// when it has been idle.
func (s *Service) observe(ctx context.Context, v store.VM, rt *runtime, now time.Time) time.Time {
	sm := sample{sessions: s.idle.sessions(v.ID)}
	if s.Forwards != nil {
		sm.fwdOpen, sm.fwdAccepted = s.Forwards.Use(v.ID)
	}
	sm.load, sm.loadErr = s.guestLoad(ctx, v, rt)
	since, why := s.idle.update(v.ID, rt, now, sm, orDefault(s.Lifetimes.IdleLoad, DefaultIdleLoad))
	if why != "" {
		s.Log.DebugContext(ctx, "vm active", "vm", v.Name, "why", why)
	}
	return since
}

// guestLoad reads the 1-minute load average of v, running as rt, within
// Lifetimes.AgentTimeout.
func (s *Service) guestLoad(ctx context.Context, v store.VM, rt *runtime) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, orDefault(s.Lifetimes.AgentTimeout, DefaultAgentTimeout))
	defer cancel()
	if s.Lifetimes.Load != nil {
		return s.Lifetimes.Load(ctx, v)
	}
	var load float64
	err := s.Guest.withAgent(ctx, s.guestOf(v, rt), "stats", func(c *agent.Client) error {
		st, err := c.Stats(ctx)
		load = st.Load1
		return err
	})
	return load, err
}

// stopIdle stops v gracefully for having been idle for idle, unless it
// is no longer the run rt or a session opened meanwhile, and records why.
func (s *Service) stopIdle(ctx context.Context, v store.VM, rt *runtime, idle time.Duration) {
	unlock := s.lock(v.ID)
	defer unlock()
	if !s.runs.isCurrent(v.ID, rt) || s.idle.sessions(v.ID) > 0 {
		return
	}
	s.Log.InfoContext(ctx, "stopping idle vm", "vm", v.Name, "id", v.ID, "idle_for", idle.Round(time.Second).String())
	if err := s.haltLocked(ctx, v, false, nil); err != nil {
		s.Log.WarnContext(ctx, "stop idle vm", "vm", v.Name, "err", err)
		return
	}
	if err := s.Store.SetVMStoppedReason(ctx, v.ID, store.StoppedIdle); err != nil {
		s.Log.WarnContext(ctx, "record why the vm stopped", "vm", v.Name, "err", err)
	}
	s.idle.forget(v.ID)
	s.publish(ctx, Event{Kind: VMIdleStopped, ID: v.ID, Name: v.Name, Reason: fmt.Sprintf("idle for %s", idle.Round(time.Second))})
}

// expire deletes v, whose time to live ended, whatever it is doing. A VM
// still being created is left for the next check.
func (s *Service) expire(ctx context.Context, v store.VM, l store.Lifetime) {
	if s.isCreating(v.ID) {
		return
	}
	s.Log.InfoContext(ctx, "deleting vm: its time to live ended", "vm", v.Name, "id", v.ID, "expires_at", l.ExpiresAt)
	if err := s.Delete(ctx, v.ID); err != nil {
		s.Log.WarnContext(ctx, "delete expired vm", "vm", v.Name, "err", err)
		return
	}
	s.idle.forget(v.ID)
	s.publish(ctx, Event{Kind: VMExpired, ID: v.ID, Name: v.Name, Reason: "time to live ended at " + l.ExpiresAt.Format(time.RFC3339)})
}

// sessionConn is a session through Connect: closing it ends the session
// (once) for idle detection.
type sessionConn struct {
	net.Conn
	once sync.Once
	end  func()
}

func (c *sessionConn) Close() error {
	c.once.Do(c.end)
	return c.Conn.Close()
}

// trackSession counts conn as a session open in VM id until it is closed.
func (s *Service) trackSession(id string, conn net.Conn) net.Conn {
	s.idle.addSession(id, 1)
	return &sessionConn{Conn: conn, end: func() { s.idle.addSession(id, -1) }}
}
