package operation

import (
	"context"
	"errors"
	"sync"
	"time"

	"banger/internal/progress"
	"banger/internal/store"
)

// Op is an operation that runs.
type Op struct {
	cancel context.CancelCauseFunc
	done   chan struct{}

	mu     sync.Mutex
	rec    store.Operation
	latest *progress.Event
	subs   map[chan progress.Event]struct{}
	res    any
	err    error
}

// SubBuffer is how many events a slow subscriber may lag behind before
// events are dropped for it (the operation never waits for a client).
const SubBuffer = 256

// ID is the operation's id.
func (o *Op) ID() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rec.ID
}

// Record returns the operation's record as it stands.
func (o *Op) Record() store.Operation {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rec
}

// Done is closed when the operation has ended (and undone its work, if it
// failed or was cancelled).
func (o *Op) Done() <-chan struct{} { return o.done }

// Result is what the operation returned; valid once Done is closed.
func (o *Op) Result() (any, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.res, o.err
}

// Cancel cancels the operation's context with cause.
func (o *Op) Cancel(cause error) { o.cancel(cause) }

// Subscribe returns a channel of the operation's progress from now on,
// the latest event before it (nil if none), and the function that ends
// the subscription. Events a subscriber does not take in time are
// dropped for it.
func (o *Op) Subscribe() (<-chan progress.Event, *progress.Event, func()) {
	ch := make(chan progress.Event, SubBuffer)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.subs[ch] = struct{}{}
	var latest *progress.Event
	if o.latest != nil {
		e := *o.latest
		latest = &e
	}
	return ch, latest, func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		delete(o.subs, ch)
	}
}

// publish records e and sends it to the subscribers; it returns the
// record and whether e began a new step.
func (o *Op) publish(e progress.Event) (store.Operation, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	newStep := e.Step != o.rec.Step
	o.latest = &e
	o.rec.Step, o.rec.Message, o.rec.Done, o.rec.Total = e.Step, e.Message, e.Done, e.Total
	for ch := range o.subs {
		select {
		case ch <- e:
		default:
		}
	}
	return o.rec, newStep
}

// finish records how the operation ended: cancelled when its context was
// cancelled and it failed, else succeeded or failed.
func (o *Op) finish(ctx context.Context, res any, err error, now time.Time) store.Operation {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.res, o.err = res, err
	o.rec.Ended = now
	switch {
	case err == nil:
		o.rec.State = store.OpSucceeded
	case ctx.Err() != nil:
		o.rec.State = store.OpCancelled
		o.rec.Error = err.Error()
		if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
			o.rec.Error = cause.Error() + ": " + err.Error()
		}
	default:
		o.rec.State = store.OpFailed
		o.rec.Error = err.Error()
	}
	o.cancel(nil)
	return o.rec
}
