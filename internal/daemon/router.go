package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"banger/internal/access"
	"banger/internal/api"
	"banger/internal/image"
	"banger/internal/operation"
	"banger/internal/progress"
	"banger/internal/ui"
	"banger/internal/vm"
)

// Handlers decode a request, call a service and encode the answer. They
// are registered by the endpoints of api.Endpoints, grouped by resource:
// system_http.go, vms_http.go, images_http.go, kernels_http.go. What a
// service returns becomes a wire type in wire.go.
type Handlers struct {
	VMs      *vm.Service
	Images   *image.Service
	Log      *slog.Logger
	Socket   string
	Version  string
	Shutdown func()
	// Access admits callers by their peer credentials; nil admits every
	// request as the daemon's own (handler tests).
	Access *access.Policy
	// Ops runs and keeps the long operations; nil makes one over the VM
	// service's store when the routes are built (handler tests).
	Ops *operation.Service
	// ops counts the requests in flight for a drain; nil counts nothing.
	ops *ops
	// UI is the web UI (ui.go); nil when it is off.
	UI *ui.Server
}

type opKey struct{}

// OpID returns the operation id of the request being served.
func OpID(ctx context.Context) string {
	id, _ := ctx.Value(opKey{}).(string)
	return id
}

func newOpID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Routes returns the API's handler.
func (h *Handlers) Routes() http.Handler {
	if h.Ops == nil {
		h.Ops = &operation.Service{Store: h.VMs.Store, Log: h.Log}
	}
	mux := http.NewServeMux()
	h.systemRoutes(mux)
	h.opRoutes(mux)
	h.vmRoutes(mux)
	h.imageRoutes(mux)
	h.snapshotRoutes(mux)
	h.kernelRoutes(mux)
	h.uiRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, &api.Error{Kind: api.KindUnknown, Message: "unknown method " + r.Method + " " + r.URL.Path})
	})
	return h.withOp(h.counted(mux))
}

func (h *Handlers) withOp(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newOpID()
		r = r.WithContext(context.WithValue(r.Context(), opKey{}, id))
		w.Header().Set(api.OpHeader, id)
		start := time.Now()
		ctx, refused := h.admit(r)
		who := callerAttrs(ctx)
		h.Log.InfoContext(ctx, "request", append([]any{"op", id, "method", r.Method, "path", r.URL.Path}, who...)...)
		if refused != nil {
			h.fail(w, r, refused)
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
		h.Log.InfoContext(ctx, "done", append([]any{"op", id, "method", r.Method, "path", r.URL.Path, "took", time.Since(start).Round(time.Millisecond).String()}, who...)...)
	})
}

// route registers serve for e, with the request body decoded into Req.
func route[Req, Resp any](mux *http.ServeMux, h *Handlers, e api.Endpoint[Req, Resp], serve func(http.ResponseWriter, *http.Request, Req)) {
	mux.HandleFunc(e.Pattern(), func(w http.ResponseWriter, r *http.Request) {
		var req Req
		if err := decode(r, &req); err != nil {
			h.fail(w, r, err)
			return
		}
		serve(w, r, req)
	})
}

// handle registers fn for an endpoint that answers with JSON.
func handle[Req, Resp any](mux *http.ServeMux, h *Handlers, e api.Endpoint[Req, Resp], fn func(*http.Request, Req) (Resp, error)) {
	if e.Reply != api.ReplyJSON {
		panic(fmt.Sprintf("%s does not answer with JSON", e.Pattern()))
	}
	route(mux, h, e, func(w http.ResponseWriter, r *http.Request, req Req) {
		resp, err := fn(r, req)
		h.reply(w, r, resp, err)
	})
}

// handleEvents registers fn for an endpoint that answers with events: fn's
// progress, then its answer.
func handleEvents[Req, Resp any](mux *http.ServeMux, h *Handlers, e api.Endpoint[Req, Resp], fn func(*http.Request, Req, progress.Func) (Resp, error)) {
	if e.Reply != api.ReplyEvents {
		panic(fmt.Sprintf("%s does not answer with events", e.Pattern()))
	}
	route(mux, h, e, func(w http.ResponseWriter, r *http.Request, req Req) {
		h.stream(w, r, func(p progress.Func, _ func(api.Event)) (any, error) { return fn(r, req, p) })
	})
}

func (h *Handlers) fail(w http.ResponseWriter, r *http.Request, err error) {
	e, code := apiError(r.Context(), err)
	if e.Kind == api.KindUnknown {
		code = http.StatusNotFound
	}
	h.Log.WarnContext(r.Context(), "request failed", "op", OpID(r.Context()), "kind", e.Kind, "err", e.Message)
	writeJSON(w, code, e)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *Handlers) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// decode reads a JSON request body into v; an endpoint that takes
// api.Empty reads none.
func decode(r *http.Request, v any) error {
	if _, none := v.(*api.Empty); none {
		return nil
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return &api.Error{Kind: api.KindBadRequest, Message: "decode request: " + err.Error()}
	}
	return nil
}

// stream runs op and answers with its progress as NDJSON events, ending
// with a result or an error event. The stream starts with the first
// event: an op that fails before sending one (a refused request) is
// answered like any failed request, with its status code. op may also send
// events of its own.
func (h *Handlers) stream(w http.ResponseWriter, r *http.Request, op func(progress.Func, func(api.Event)) (any, error)) {
	ctx := r.Context()
	flusher, _ := w.(http.Flusher)
	var mu sync.Mutex
	started := false
	enc := json.NewEncoder(w)
	send := func(ev api.Event) {
		mu.Lock()
		defer mu.Unlock()
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		_ = enc.Encode(ev)
		if flusher != nil {
			flusher.Flush()
		}
	}
	p := func(e progress.Event) {
		if e.Total == 0 {
			h.Log.InfoContext(ctx, e.Message, "op", OpID(ctx), "step", e.Step)
		}
		send(progressEvent(e))
	}
	res, err := op(p, send)
	mu.Lock()
	before := !started
	mu.Unlock()
	if err != nil && before {
		h.fail(w, r, err)
		return
	}
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		h.Log.InfoContext(ctx, "the client left", "op", OpID(ctx))
		return
	}
	if err != nil {
		e, _ := apiError(ctx, err)
		h.Log.WarnContext(ctx, "operation failed", "op", OpID(ctx), "err", e.Message)
		send(api.Event{Type: "error", Error: e})
		return
	}
	b, err := json.Marshal(res)
	if err != nil {
		send(api.Event{Type: "error", Error: &api.Error{Kind: api.KindFailed, Message: err.Error(), OpID: OpID(ctx)}})
		return
	}
	send(api.Event{Type: "result", Result: b})
}

// progressEvent is e on the wire: a "progress" event, or a "log" event
// for a plain message.
func progressEvent(e progress.Event) api.Event {
	typ := "progress"
	if e.Total == 0 {
		typ = "log"
	}
	return api.Event{Type: typ, Step: e.Step, Done: e.Done, Total: e.Total, Message: e.Message}
}
