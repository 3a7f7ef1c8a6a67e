// Package inflight shares long operations between concurrent callers: a
// caller asking for an operation that is already under way joins it instead
// of starting another, sees its progress from then on, and gets its result.
package inflight

import (
	"context"
	"slices"
	"sync"
)

// Op is an operation to run, or to join when one with the same Key is
// under way.
type Op[V, E any] struct {
	// Key identifies the operation: callers with the same key share it.
	Key string
	// Label says what the operation does ("build", "pull"); it is told to
	// callers that join it.
	Label string
	// Run does the work, sending its progress events to send. Its context
	// is detached from the callers' and cancelled when no caller waits any
	// more.
	Run func(ctx context.Context, send func(E)) (V, error)
	// Joined, when not nil, is called with the label of the operation under
	// way when the caller joins one instead of starting Run.
	Joined func(label string)
}

// Group keeps the operations under way. The zero value is ready to use.
type Group[V, E any] struct {
	mu    sync.Mutex
	calls map[string]*call[V, E]
}

type call[V, E any] struct {
	label   string
	done    chan struct{}
	val     V
	err     error
	waiters int
	cancel  context.CancelFunc
	subs    []*func(E) // guarded by Group.mu
}

// Do runs op, or joins the operation with its key that is under way, and
// returns its result. sub (nil discards them) receives the operation's
// events from the moment the caller joined until it returns.
//
// A caller whose ctx ends stops waiting and gets ctx.Err(); the operation
// goes on for the others. When the last waiting caller goes, the operation
// is cancelled, and that caller waits for it to end (so nothing is left
// running) and gets its result; later callers start a new one.
func (g *Group[V, E]) Do(ctx context.Context, op Op[V, E], sub func(E)) (V, error) {
	s := &sub
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*call[V, E]{}
	}
	c, running := g.calls[op.Key]
	if running {
		c.waiters++
		c.subs = append(c.subs, s)
	} else {
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &call[V, E]{label: op.Label, done: make(chan struct{}), waiters: 1, cancel: cancel, subs: []*func(E){s}}
		g.calls[op.Key] = c
		go g.run(cctx, op, c)
	}
	g.mu.Unlock()
	if running && op.Joined != nil {
		op.Joined(c.label)
	}

	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
	}
	g.mu.Lock()
	c.waiters--
	c.subs = remove(c.subs, s)
	last := c.waiters == 0
	if last {
		c.cancel()
		if g.calls[op.Key] == c {
			delete(g.calls, op.Key)
		}
	}
	g.mu.Unlock()
	if !last {
		var zero V
		return zero, ctx.Err()
	}
	<-c.done
	return c.val, c.err
}

func (g *Group[V, E]) run(ctx context.Context, op Op[V, E], c *call[V, E]) {
	send := func(e E) {
		g.mu.Lock()
		subs := slices.Clone(c.subs)
		g.mu.Unlock()
		for _, s := range subs {
			if *s != nil {
				(*s)(e)
			}
		}
	}
	c.val, c.err = op.Run(ctx, send)
	c.cancel()
	g.mu.Lock()
	if g.calls[op.Key] == c {
		delete(g.calls, op.Key)
	}
	g.mu.Unlock()
	close(c.done)
}

func remove[T comparable](s []T, v T) []T {
	for i, x := range s {
		if x == v {
			return append(s[:i:i], s[i+1:]...)
		}
	}
	return s
}
