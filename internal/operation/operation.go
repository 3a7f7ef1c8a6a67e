// Package operation keeps the long operations of the daemon (vm create,
// start, stop, image build, pull, warm) as records: each runs in a
// goroutine the daemon owns, with a context of its own that only a cancel
// (or the daemon stopping) ends, publishes its progress to its record and
// to the clients attached to it, and is kept in the store once finished
// for Keep, across restarts.
package operation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"banger/internal/access"
	"banger/internal/progress"
	"banger/internal/store"
)

// Records is where operations are kept (the store).
type Records interface {
	PutOperation(ctx context.Context, op store.Operation) error
	GetOperation(ctx context.Context, id string) (store.Operation, error)
	ListOperations(ctx context.Context) ([]store.Operation, error)
	DeleteOperationsEndedBefore(ctx context.Context, t time.Time) (int64, error)
	FailRunningOperations(ctx context.Context, reason string, t time.Time) (int64, error)
}

// DefaultKeep is how long finished operations are kept when the config
// does not say (operations_keep).
const DefaultKeep = 24 * time.Hour

// Recent is how far back List looks without all: the running operations
// and those that ended this long ago at most.
const Recent = time.Hour

// Interrupted is the error of an operation that was running when the
// daemon stopped.
const Interrupted = "the daemon stopped while it ran"

// ErrCancelled is the cause of an operation's context when it is
// cancelled by a user.
var ErrCancelled = errors.New("operation cancelled")

// Service runs and keeps operations. Store is required; Now (time.Now) and
// Keep (DefaultKeep) may be left zero.
type Service struct {
	Store Records
	Now   func() time.Time
	Keep  time.Duration
	Log   *slog.Logger

	mu      sync.Mutex
	running map[string]*Op
	wg      sync.WaitGroup
}

// Spec is an operation to start: its kind ("vm create"), its target (a
// name, when known) and the work. Run gets the operation's own context,
// which carries the values of the context Start was given (the caller)
// but not its cancellation.
type Spec struct {
	// ID is the record's id; empty for a new random one. The daemon gives
	// the id of the request that starts the operation, so that the "(op
	// ID)" of its errors names the record.
	ID     string
	Kind   string
	Target string
	Run    func(ctx context.Context, p progress.Func) (any, error)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) keep() time.Duration {
	if s.Keep > 0 {
		return s.Keep
	}
	return DefaultKeep
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

func newID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Start records the operation sp as running, by the caller in ctx, and
// runs it in a goroutine of its own.
func (s *Service) Start(ctx context.Context, sp Spec) (*Op, error) {
	id := sp.ID
	if id == "" {
		id = newID()
	}
	if _, running := s.Running(id); running {
		return nil, fmt.Errorf("operation %s is already running", id)
	}
	rec := store.Operation{ID: id, Kind: sp.Kind, Target: sp.Target, State: store.OpRunning,
		UID: access.Owner(ctx), Started: s.now()}
	if err := s.Store.PutOperation(ctx, rec); err != nil {
		return nil, err
	}
	octx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	op := &Op{rec: rec, cancel: cancel, done: make(chan struct{}), subs: map[chan progress.Event]struct{}{}}
	s.mu.Lock()
	if s.running == nil {
		s.running = map[string]*Op{}
	}
	s.running[rec.ID] = op
	s.wg.Add(1)
	s.mu.Unlock()
	s.log().Info("operation started", "op", rec.ID, "kind", rec.Kind, "target", rec.Target, "uid", rec.UID)
	go s.run(octx, op, sp)
	return op, nil
}

func (s *Service) run(ctx context.Context, op *Op, sp Spec) {
	defer s.wg.Done()
	res, err := sp.Run(ctx, func(e progress.Event) { s.progress(ctx, op, e) })
	rec := op.finish(ctx, res, err, s.now())
	if perr := s.Store.PutOperation(context.WithoutCancel(ctx), rec); perr != nil {
		s.log().Warn("record finished operation", "op", rec.ID, "err", perr)
	}
	s.mu.Lock()
	delete(s.running, rec.ID)
	s.mu.Unlock()
	close(op.done)
	s.log().Info("operation ended", "op", rec.ID, "kind", rec.Kind, "target", rec.Target, "state", rec.State, "err", rec.Error)
	s.prune(context.WithoutCancel(ctx))
}

// progress records e as the operation's latest, logs it when it is a
// message and passes it on; a new step is written to the store, so that
// a record read after a crash says where the operation was.
func (s *Service) progress(ctx context.Context, op *Op, e progress.Event) {
	rec, newStep := op.publish(e)
	if e.Total == 0 {
		s.log().InfoContext(ctx, e.Message, "op", rec.ID, "step", e.Step)
	}
	if newStep {
		if err := s.Store.PutOperation(context.WithoutCancel(ctx), rec); err != nil {
			s.log().Warn("record operation progress", "op", rec.ID, "err", err)
		}
	}
}

// Running returns the operation id while it runs.
func (s *Service) Running(id string) (*Op, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	op, ok := s.running[id]
	return op, ok
}

// Get returns the record of operation id, if the caller in ctx may see it.
func (s *Service) Get(ctx context.Context, id string) (store.Operation, error) {
	var rec store.Operation
	if op, ok := s.Running(id); ok {
		rec = op.Record()
	} else {
		r, err := s.Store.GetOperation(ctx, id)
		if err != nil {
			return store.Operation{}, err
		}
		rec = r
	}
	if !access.Owns(ctx, rec.UID) {
		return store.Operation{}, fmt.Errorf("operation %q: %w", id, store.ErrNotFound)
	}
	return rec, nil
}

// List returns the operations the caller in ctx may see, the newest
// first: with all every one kept, else the running ones and those that
// ended within Recent.
func (s *Service) List(ctx context.Context, all bool) ([]store.Operation, error) {
	s.prune(ctx)
	recs, err := s.Store.ListOperations(ctx)
	if err != nil {
		return nil, err
	}
	since := s.now().Add(-Recent)
	out := []store.Operation{}
	for _, r := range recs {
		if op, ok := s.Running(r.ID); ok {
			r = op.Record()
		}
		if !access.Owns(ctx, r.UID) || (!all && r.State != store.OpRunning && r.Ended.Before(since)) {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// Cancel cancels operation id and waits, until ctx ends, for it to have
// undone its work. Cancelling a finished operation changes nothing.
func (s *Service) Cancel(ctx context.Context, id string) (store.Operation, error) {
	rec, err := s.Get(ctx, id)
	if err != nil {
		return rec, err
	}
	op, ok := s.Running(id)
	if !ok {
		return rec, nil
	}
	s.log().Info("operation cancelled", "op", id, "kind", rec.Kind, "target", rec.Target)
	op.Cancel(ErrCancelled)
	select {
	case <-op.Done():
	case <-ctx.Done():
		return op.Record(), fmt.Errorf("operation %s is still undoing its work: %w", id, ctx.Err())
	}
	return op.Record(), nil
}

// Recover marks the operations left running by a daemon that stopped as
// failed (Interrupted) and prunes the old ones. The daemon calls it once at
// start, before it runs any operation.
func (s *Service) Recover(ctx context.Context) error {
	n, err := s.Store.FailRunningOperations(ctx, Interrupted, s.now())
	if err != nil {
		return err
	}
	if n > 0 {
		s.log().Warn("operations interrupted by the daemon's stop marked failed", "count", n)
	}
	s.prune(ctx)
	return nil
}

func (s *Service) prune(ctx context.Context) {
	if _, err := s.Store.DeleteOperationsEndedBefore(ctx, s.now().Add(-s.keep())); err != nil {
		s.log().Warn("prune operations", "err", err)
	}
}

// Drain waits until no operation runs or ctx ends, then cancels the ones
// still running (cause: the daemon stops) and waits grace at most for
// them to end. It reports whether every operation had finished by itself.
func (s *Service) Drain(ctx context.Context, grace time.Duration) bool {
	idle := make(chan struct{})
	go func() { s.wg.Wait(); close(idle) }()
	select {
	case <-idle:
		return true
	case <-ctx.Done():
	}
	s.mu.Lock()
	for _, op := range s.running {
		op.Cancel(errors.New(Interrupted))
	}
	s.mu.Unlock()
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-idle:
	case <-t.C:
	}
	return false
}

// Note records an operation the daemon did by itself and has finished
// (a VM stopped for being idle, one deleted when its time to live ended):
// a succeeded record whose message says why.
func (s *Service) Note(ctx context.Context, kind, target, why string) error {
	now := s.now()
	rec := store.Operation{ID: newID(), Kind: kind, Target: target, State: store.OpSucceeded,
		Step: kind, Message: why, Started: now, Ended: now}
	if err := s.Store.PutOperation(ctx, rec); err != nil {
		return fmt.Errorf("record %s of %s: %w", kind, target, err)
	}
	s.log().Info("operation done by the daemon", "op", rec.ID, "kind", kind, "target", target, "why", why)
	return nil
}
