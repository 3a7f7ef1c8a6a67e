package operation

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"banger/internal/access"
	"banger/internal/progress"
	"banger/internal/store"
)

// clock is a fake clock a test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newService(t *testing.T) (*Service, *store.Store, *clock) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "banger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &clock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	return &Service{Store: st, Now: c.Now, Keep: 24 * time.Hour}, st, c
}

func finished(t *testing.T, s *Service, kind string, err error) store.Operation {
	t.Helper()
	op, serr := s.Start(context.Background(), Spec{Kind: kind, Run: func(context.Context, progress.Func) (any, error) { return nil, err }})
	if serr != nil {
		t.Fatal(serr)
	}
	<-op.Done()
	rec, gerr := s.Get(context.Background(), op.ID())
	if gerr != nil {
		t.Fatal(gerr)
	}
	return rec
}

// TestRetention: a finished record is listed (with --all) until Keep has
// passed, then pruned; without --all only the last hour's are listed.
func TestRetention(t *testing.T) {
	s, _, c := newService(t)
	ctx := context.Background()
	ok := finished(t, s, "vm create", nil)
	bad := finished(t, s, "image pull", errors.New("no such image"))
	if ok.State != store.OpSucceeded || bad.State != store.OpFailed || bad.Error != "no such image" {
		t.Fatalf("records: %+v / %+v", ok, bad)
	}
	c.Add(2 * time.Hour)
	if recent, _ := s.List(ctx, false); len(recent) != 0 {
		t.Errorf("list after 2h without --all: %+v, want none", recent)
	}
	if all, _ := s.List(ctx, true); len(all) != 2 {
		t.Errorf("list --all after 2h: %d records, want 2", len(all))
	}
	c.Add(23 * time.Hour)
	if all, _ := s.List(ctx, true); len(all) != 0 {
		t.Errorf("list --all after 25h (keep 24h): %+v, want pruned", all)
	}
	if _, err := s.Get(ctx, ok.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get of a pruned record: %v, want not found", err)
	}
}

// TestRecoverMarksRunningFailed: an operation the store shows running
// when the daemon starts (it died meanwhile) is failed with the reason.
func TestRecoverMarksRunningFailed(t *testing.T) {
	s, st, c := newService(t)
	ctx := context.Background()
	if err := st.PutOperation(ctx, store.Operation{ID: "abc", Kind: "vm create", Target: "box", State: store.OpRunning, Step: "boot", Started: c.Now()}); err != nil {
		t.Fatal(err)
	}
	c.Add(time.Minute)
	if err := s.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	rec, err := s.Get(ctx, "abc")
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != store.OpFailed || rec.Error != Interrupted || !rec.Ended.Equal(c.Now()) || rec.Step != "boot" {
		t.Errorf("record after restart: %+v; want failed, %q, ended now, step kept", rec, Interrupted)
	}
}

// TestCancel: cancelling ends the operation's context (not the
// starter's), waits for it to return and records it cancelled.
func TestCancel(t *testing.T) {
	s, _, _ := newService(t)
	reqCtx, endReq := context.WithCancel(context.Background())
	started := make(chan struct{})
	op, err := s.Start(reqCtx, Spec{Kind: "vm create", Target: "box", Run: func(ctx context.Context, p progress.Func) (any, error) {
		p.Msg("boot", "booting")
		close(started)
		<-ctx.Done()
		return nil, errors.New("boot: " + ctx.Err().Error())
	}})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	endReq() // the client leaves: the operation goes on
	select {
	case <-op.Done():
		t.Fatal("the operation ended with the context of the request that started it")
	default:
	}
	rec, err := s.Cancel(context.Background(), op.ID())
	if err != nil {
		t.Fatal(err)
	}
	if rec.State != store.OpCancelled || rec.Step != "boot" || rec.Ended.IsZero() {
		t.Errorf("cancelled record: %+v", rec)
	}
	if rec2, _ := s.Get(context.Background(), op.ID()); rec2.State != store.OpCancelled {
		t.Errorf("stored record: %+v", rec2)
	}
}

// TestOwners: a caller who is not an admin sees and cancels only its own.
func TestOwners(t *testing.T) {
	s, _, _ := newService(t)
	alice := access.WithCaller(context.Background(), access.Caller{UID: 1001})
	bob := access.WithCaller(context.Background(), access.Caller{UID: 1002})
	release := make(chan struct{})
	op, err := s.Start(alice, Spec{Kind: "vm create", Run: func(ctx context.Context, _ progress.Func) (any, error) {
		<-release
		return nil, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { close(release); <-op.Done() }()
	if _, err := s.Cancel(bob, op.ID()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bob cancels alice's operation: %v, want not found", err)
	}
	if l, _ := s.List(bob, true); len(l) != 0 {
		t.Errorf("bob lists %+v", l)
	}
	if l, _ := s.List(alice, false); len(l) != 1 || l[0].UID != 1001 || l[0].State != store.OpRunning {
		t.Errorf("alice lists %+v", l)
	}
}

// TestSubscribe: a client attached late gets the latest event, then the
// ones after it.
func TestSubscribe(t *testing.T) {
	s, _, _ := newService(t)
	step, release := make(chan struct{}), make(chan struct{})
	op, err := s.Start(context.Background(), Spec{Kind: "image pull", Run: func(ctx context.Context, p progress.Func) (any, error) {
		p.Send(progress.Event{Step: "download", Done: 1, Total: 4})
		close(step)
		<-release
		p.Send(progress.Event{Step: "download", Done: 4, Total: 4})
		return "img", nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	<-step
	ch, latest, unsub := op.Subscribe()
	defer unsub()
	if latest == nil || latest.Done != 1 {
		t.Fatalf("latest on attach: %+v", latest)
	}
	close(release)
	if e := <-ch; e.Done != 4 {
		t.Errorf("next event: %+v", e)
	}
	<-op.Done()
	if res, err := op.Result(); res != "img" || err != nil {
		t.Errorf("result %v, %v", res, err)
	}
}

// TestDrainCancelsWhatRunsPastTheBound: a stopping daemon waits for its
// operations, then cancels the ones still running, which end cancelled
// with the reason.
func TestDrainCancelsWhatRunsPastTheBound(t *testing.T) {
	s, _, _ := newService(t)
	started := make(chan struct{})
	op, err := s.Start(context.Background(), Spec{Kind: "image build", Run: func(ctx context.Context, _ progress.Func) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	bound, cancel := context.WithCancel(context.Background())
	cancel() // the bound has passed
	if s.Drain(bound, time.Minute) {
		t.Error("Drain reports every operation finished")
	}
	<-op.Done()
	rec, _ := s.Get(context.Background(), op.ID())
	if rec.State != store.OpCancelled || !strings.Contains(rec.Error, Interrupted) {
		t.Errorf("record after the drain: %+v", rec)
	}
	if !s.Drain(context.Background(), time.Minute) {
		t.Error("Drain with nothing running reports operations cut off")
	}
}
