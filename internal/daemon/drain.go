package daemon

import (
	"context"
	"net/http"
	"sync"
	"time"

	"banger/internal/api"
)

// DrainTimeout bounds how long a stopping daemon (SIGTERM, SIGINT, `banger
// daemon stop`) waits for the operations in flight to finish before it
// cancels them; a cancelled operation rolls its work back, for which the
// daemon waits DrainGrace more. Requests that only hold something open
// (port forwards, connections to a guest, a --rm VM's lifetime) do not
// count: they end when the drain does.
const (
	DrainTimeout = 2 * time.Minute
	DrainGrace   = 15 * time.Second
)

// ops counts the requests being served, so that a stopping daemon can
// wait for them. The zero value is ready; a nil *ops counts nothing.
type ops struct {
	mu       sync.Mutex
	n        int
	draining bool
	zero     chan struct{} // closed when n drops to 0 while draining
}

type opEndKey struct{}

// begin counts a request in; it returns false when the daemon is
// draining, and the function that counts it out (once).
func (o *ops) begin() (end func(), ok bool) {
	if o == nil {
		return func() {}, true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.draining {
		return nil, false
	}
	o.n++
	var once sync.Once
	return func() { once.Do(o.done) }, true
}

func (o *ops) done() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.n--
	if o.n == 0 && o.zero != nil {
		close(o.zero)
		o.zero = nil
	}
}

// drain refuses new requests from now on and waits until none is being
// served or ctx ends; it reports whether all finished.
func (o *ops) drain(ctx context.Context) bool {
	if o == nil {
		return true
	}
	o.mu.Lock()
	o.draining = true
	if o.n == 0 {
		o.mu.Unlock()
		return true
	}
	if o.zero == nil {
		o.zero = make(chan struct{})
	}
	zero := o.zero
	o.mu.Unlock()
	select {
	case <-zero:
		return true
	case <-ctx.Done():
		return false
	}
}

// holding marks the request of ctx as one that now only holds something
// open: a drain no longer waits for it.
func holding(ctx context.Context) {
	if end, ok := ctx.Value(opEndKey{}).(func()); ok {
		end()
	}
}

// counted wraps next so that every request is counted in h.ops, and
// refused with 503 while the daemon drains.
func (h *Handlers) counted(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		end, ok := h.ops.begin()
		if !ok {
			writeJSON(w, http.StatusServiceUnavailable, &api.Error{Kind: api.KindFailed, Message: "bangerd is stopping; retry once it runs again"})
			return
		}
		defer end()
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), opEndKey{}, end)))
	})
}

// shutdown stops srv after draining h's operations: new requests are
// refused at once, the requests and operations in flight get bound to
// finish, then the operations still running are cancelled (they roll
// back) and get grace to end, cancelReqs cancels every request (holds
// end) and srv gets grace to see them return.
func (h *Handlers) shutdown(srv *http.Server, cancelReqs context.CancelFunc, bound, grace time.Duration) bool {
	dctx, cancel := context.WithTimeout(context.Background(), bound)
	drained := h.ops.drain(dctx)
	opsDone := h.Ops == nil || h.Ops.Drain(dctx, grace)
	cancel()
	cancelReqs()
	sctx, scancel := context.WithTimeout(context.Background(), grace)
	defer scancel()
	_ = srv.Shutdown(sctx)
	return drained && opsDone
}
