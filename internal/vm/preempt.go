package vm

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// starts holds the cancel funcs of the starts in flight, by VM id, so that
// kill, stop and delete can pre-empt a start that is stuck (a guest that
// never becomes ready) instead of waiting on the VM's lock until the boot
// timeout. The zero value is ready to use.
type starts struct {
	mu   sync.Mutex
	next uint64
	byID map[string]map[uint64]context.CancelCauseFunc
}

// begin registers a start of VM id and returns its context, cancelled by
// preempt, and the func that ends the registration.
func (s *starts) begin(ctx context.Context, id string) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID == nil {
		s.byID = map[string]map[uint64]context.CancelCauseFunc{}
	}
	if s.byID[id] == nil {
		s.byID[id] = map[uint64]context.CancelCauseFunc{}
	}
	s.next++
	n := s.next
	s.byID[id][n] = cancel
	return ctx, func() {
		s.mu.Lock()
		delete(s.byID[id], n)
		if len(s.byID[id]) == 0 {
			delete(s.byID, id)
		}
		s.mu.Unlock()
		cancel(nil)
	}
}

// preempt cancels every start of VM id in flight, with why as the cause
// their callers see.
func (s *starts) preempt(id string, why error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cancel := range s.byID[id] {
		cancel(why)
	}
}

// PreemptedError is what a start returns when a kill, stop or delete of
// the same VM cancelled it.
type PreemptedError struct{ VM, By string }

func (e *PreemptedError) Error() string {
	return fmt.Sprintf("VM %s: the start was cancelled by %s", e.VM, e.By)
}

// preempted returns err, or the PreemptedError that ended ctx when one
// did: what failed then is only a consequence.
func preempted(ctx context.Context, err error) error {
	var pe *PreemptedError
	if errors.As(context.Cause(ctx), &pe) && !errors.As(err, &pe) {
		return fmt.Errorf("%w (%v)", pe, err)
	}
	return err
}
