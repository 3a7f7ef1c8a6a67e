package inflight

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// held is an operation that sends 1, waits for release (or its context),
// sends 2 and returns "done".
type held struct {
	runs    atomic.Int32
	release chan struct{}
	ctxErr  atomic.Value
}

func newHeld() *held { return &held{release: make(chan struct{})} }

func (h *held) op(joined func(string)) Op[string, int] {
	return Op[string, int]{Key: "k", Label: "build", Joined: joined, Run: func(ctx context.Context, send func(int)) (string, error) {
		h.runs.Add(1)
		send(1)
		select {
		case <-h.release:
		case <-ctx.Done():
			h.ctxErr.Store(ctx.Err())
			return "", ctx.Err()
		}
		send(2)
		return "done", nil
	}}
}

func TestCallersShareOneRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[string, int]
		h := newHeld()
		var first, second []int
		var got [2]string
		go func() { got[0], _ = g.Do(t.Context(), h.op(nil), func(e int) { first = append(first, e) }) }()
		synctest.Wait() // the run has sent 1 and is held
		var label string
		go func() {
			got[1], _ = g.Do(t.Context(), h.op(func(l string) { label = l }), func(e int) { second = append(second, e) })
		}()
		synctest.Wait()
		close(h.release)
		synctest.Wait()
		if h.runs.Load() != 1 || got != [2]string{"done", "done"} {
			t.Errorf("%d runs, results %q; want 1 run, both done", h.runs.Load(), got)
		}
		if label != "build" {
			t.Errorf("joined told %q, want build", label)
		}
		if len(first) != 2 || len(second) != 1 || second[0] != 2 {
			t.Errorf("events: first %v, second %v; the joiner sees only what came after it joined", first, second)
		}
		// Done: a new call runs again.
		h2 := newHeld()
		close(h2.release)
		if v, err := g.Do(t.Context(), h2.op(nil), nil); v != "done" || err != nil || h2.runs.Load() != 1 {
			t.Errorf("later call = %q, %v, %d runs", v, err, h2.runs.Load())
		}
	})
}

func TestLeavingCallerDoesNotCancelOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[string, int]
		h := newHeld()
		var res string
		go func() { res, _ = g.Do(t.Context(), h.op(nil), nil) }()
		synctest.Wait()
		ctx, cancel := context.WithCancel(t.Context())
		var err error
		var late []int
		go func() { _, err = g.Do(ctx, h.op(nil), func(e int) { late = append(late, e) }) }()
		synctest.Wait()
		cancel()
		synctest.Wait()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("leaving caller got %v, want context.Canceled", err)
		}
		close(h.release)
		synctest.Wait()
		if res != "done" || h.ctxErr.Load() != nil {
			t.Errorf("remaining caller got %q (run cancelled: %v)", res, h.ctxErr.Load())
		}
		if len(late) != 0 {
			t.Errorf("a caller that left still got events %v", late)
		}
	})
}

func TestLastCallerLeavingCancelsAndWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[string, int]
		h := newHeld()
		ctx, cancel := context.WithCancel(t.Context())
		returned := make(chan error)
		go func() {
			_, err := g.Do(ctx, h.op(nil), nil)
			returned <- err
		}()
		synctest.Wait()
		cancel()
		err := <-returned
		if !errors.Is(err, context.Canceled) || h.ctxErr.Load() == nil {
			t.Errorf("got %v, run cancelled: %v; want the run cancelled and its error", err, h.ctxErr.Load())
		}
		// The run has ended: the next call starts afresh.
		h2 := newHeld()
		close(h2.release)
		if v, err := g.Do(t.Context(), h2.op(nil), nil); v != "done" || err != nil {
			t.Errorf("next call = %q, %v", v, err)
		}
	})
}
