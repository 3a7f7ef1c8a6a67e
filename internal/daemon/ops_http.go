package daemon

import (
	"context"
	"encoding/json"
	"net/http"

	"banger/internal/api"
	"banger/internal/operation"
	"banger/internal/progress"
	"banger/internal/store"
)

// Long operations run as records of the operation service (internal/
// operation): in a goroutine of the daemon's, not the request's, so a
// client that goes away does not cancel them. The request that started
// one, and any `ops wait`, follows its progress.

func (h *Handlers) opRoutes(mux *http.ServeMux) {
	ep := api.Endpoints
	handle(mux, h, ep.ListOps, func(r *http.Request, _ api.Empty) ([]api.Operation, error) {
		recs, err := h.Ops.List(r.Context(), r.URL.Query().Get("all") != "")
		return list(recs, operationAPI), err
	})
	handle(mux, h, ep.GetOp, func(r *http.Request, _ api.Empty) (api.Operation, error) {
		rec, err := h.Ops.Get(r.Context(), r.PathValue("id"))
		return operationAPI(rec), err
	})
	handle(mux, h, ep.CancelOp, func(r *http.Request, _ api.Empty) (api.Operation, error) {
		rec, err := h.Ops.Cancel(r.Context(), r.PathValue("id"))
		return operationAPI(rec), err
	})
	route(mux, h, ep.WaitOp, h.waitOp)
}

// waitOp follows an operation until it ends and answers with its record.
func (h *Handlers) waitOp(w http.ResponseWriter, r *http.Request, _ api.Empty) {
	id := r.PathValue("id")
	if _, err := h.Ops.Get(r.Context(), id); err != nil {
		h.fail(w, r, err)
		return
	}
	h.stream(w, r, func(p progress.Func, send func(api.Event)) (any, error) {
		if op, ok := h.Ops.Running(id); ok {
			_, _ = h.attach(r.Context(), op, send, false, true)
			if r.Context().Err() != nil {
				return nil, r.Context().Err()
			}
		}
		rec, err := h.Ops.Get(context.WithoutCancel(r.Context()), id)
		return operationAPI(rec), err
	})
}

// startOp starts fn as an operation of kind on target, by the caller of r.
func (h *Handlers) startOp(r *http.Request, kind, target string, fn func(ctx context.Context, p progress.Func) (any, error)) (*operation.Op, error) {
	return h.Ops.Start(r.Context(), operation.Spec{ID: OpID(r.Context()), Kind: kind, Target: target, Run: fn})
}

// handleOp registers fn for an endpoint whose work is a long operation,
// whose kind and target what says: the request starts it and follows it
// (see follow).
func handleOp[Req, Resp any](mux *http.ServeMux, h *Handlers, e api.Endpoint[Req, Resp], what func(*http.Request, Req) (kind, target string),
	fn func(context.Context, *http.Request, Req, progress.Func) (Resp, error)) {
	if e.Reply != api.ReplyEvents {
		panic(e.Pattern() + " does not answer with events")
	}
	route(mux, h, e, func(w http.ResponseWriter, r *http.Request, req Req) {
		kind, target := what(r, req)
		op, err := h.startOp(r, kind, target, func(ctx context.Context, p progress.Func) (any, error) {
			return fn(ctx, r, req, p)
		})
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.follow(w, r, op)
	})
}

// follow answers r with op's progress and its result. The client may go:
// the operation goes on.
func (h *Handlers) follow(w http.ResponseWriter, r *http.Request, op *operation.Op) {
	h.stream(w, r, func(_ progress.Func, send func(api.Event)) (any, error) {
		return h.attach(r.Context(), op, send, false, false)
	})
}

// attach sends op's progress until op ends, and returns its result (the
// operation service logs the progress).
// The first progress event is preceded by an api.EventOperation naming
// op (so an operation that fails before its first event is answered as a
// refused request); with replay the latest event before attaching is sent
// first. When ctx ends first, attach returns ctx's error, having cancelled
// op and waited for its end when leave says so (a --rm VM's create).
func (h *Handlers) attach(ctx context.Context, op *operation.Op, send func(api.Event), leave, replay bool) (any, error) {
	events, latest, unsub := op.Subscribe()
	defer unsub()
	named := false
	emit := func(e progress.Event) {
		if !named {
			named = true
			b, _ := json.Marshal(operationAPI(op.Record()))
			send(api.Event{Type: api.EventOperation, Result: b})
		}
		send(progressEvent(e))
	}
	if replay && latest != nil {
		emit(*latest)
	}
	for {
		select {
		case e := <-events:
			emit(e)
		case <-op.Done():
			for {
				select {
				case e := <-events:
					emit(e)
				default:
					return op.Result()
				}
			}
		case <-ctx.Done():
			if leave {
				op.Cancel(context.Cause(ctx))
				<-op.Done()
			}
			return nil, ctx.Err()
		}
	}
}

func operationAPI(o store.Operation) api.Operation {
	return api.Operation{ID: o.ID, Kind: o.Kind, Target: o.Target, State: o.State, Step: o.Step, Message: o.Message,
		Done: o.Done, Total: o.Total, Error: o.Error, UID: o.UID, Started: o.Started, Ended: o.Ended}
}

// vmActionOp names the operation of a VM action: "vm start" on the VM.
func vmActionOp(r *http.Request, _ api.Empty) (string, string) {
	return "vm " + r.PathValue("action"), r.PathValue("name")
}

func pullOp(_ *http.Request, req api.PullImage) (string, string) {
	if req.Name != "" {
		return "image pull", req.Name
	}
	return "image pull", req.Ref
}

func buildOp(_ *http.Request, req api.BuildImage) (string, string) { return "image build", req.Name }

func warmOp(r *http.Request, _ api.WarmImage) (string, string) {
	return "image warm", r.PathValue("name")
}
