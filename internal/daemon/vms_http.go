package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"banger/internal/api"
	"banger/internal/forward"
	"banger/internal/progress"
	"banger/internal/vm"
)

func (h *Handlers) vmRoutes(mux *http.ServeMux) {
	ep := api.Endpoints
	handle(mux, h, ep.ListVMs, func(r *http.Request, _ api.Empty) ([]api.VM, error) {
		infos, err := h.VMs.List(r.Context())
		return list(infos, vmAPI), err
	})
	handle(mux, h, ep.GetVM, func(r *http.Request, _ api.Empty) (api.VM, error) {
		in, err := h.VMs.Get(r.Context(), r.PathValue("name"))
		return vmAPI(in), err
	})
	route(mux, h, ep.CreateVM, h.createVM)
	handleOp(mux, h, ep.VMAction, vmActionOp, h.vmAction)
	handle(mux, h, ep.SetVM, func(r *http.Request, req api.SetVM) (api.VM, error) {
		in, err := h.VMs.Set(r.Context(), r.PathValue("name"), setRequest(req))
		return vmAPI(in), err
	})
	handle(mux, h, ep.DeleteVM, func(r *http.Request, _ api.Empty) (api.Deleted, error) {
		return api.Deleted{Deleted: r.PathValue("name")}, h.VMs.Delete(r.Context(), r.PathValue("name"))
	})
	handle(mux, h, ep.PruneVMs, func(r *http.Request, _ api.Empty) (api.PruneResult, error) {
		deleted, err := h.VMs.Prune(r.Context())
		return pruneAPI(deleted), err
	})
	handle(mux, h, ep.SSHTarget, func(r *http.Request, _ api.Empty) (api.SSHTarget, error) {
		t, err := h.VMs.Target(r.Context(), r.PathValue("name"))
		return sshTargetAPI(t), err
	})
	handle(mux, h, ep.SetWorkspace, func(r *http.Request, ws api.Workspace) (api.Workspace, error) {
		return ws, h.VMs.SetWorkspace(r.Context(), r.PathValue("name"), workspace(ws))
	})
	handle(mux, h, ep.Ports, func(r *http.Request, _ api.Empty) ([]api.Port, error) {
		ports, err := h.VMs.Ports(r.Context(), r.PathValue("name"))
		return list(ports, portAPI), err
	})
	handle(mux, h, ep.Stats, func(r *http.Request, _ api.Empty) (api.Stats, error) {
		st, err := h.VMs.Stats(r.Context(), r.PathValue("name"))
		return statsAPI(st), err
	})
	handle(mux, h, ep.ListForwards, func(r *http.Request, _ api.Empty) ([]api.Forward, error) {
		return list(h.VMs.ListForwards(r.Context()), forwardAPI), nil
	})
	route(mux, h, ep.Forward, h.forward)
	route(mux, h, ep.Logs, h.logs)
	route(mux, h, ep.Connect, h.connect)
}

// createVM creates a VM as an operation (see ops_http.go) that goes on when
// the client leaves. With Remove the VM lives as long as the request
// instead: a client that leaves during the create cancels it; once ready
// the VM is sent as a "vm" event, and the stream stays open until the
// client closes it; then the VM is deleted.
func (h *Handlers) createVM(w http.ResponseWriter, r *http.Request, req api.CreateVM) {
	op, err := h.startOp(r, "vm create", req.Name, func(ctx context.Context, p progress.Func) (any, error) {
		in, err := h.VMs.Create(ctx, createRequest(req), p)
		return vmAPI(in), err
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if !req.Remove {
		h.follow(w, r, op)
		return
	}
	h.stream(w, r, func(_ progress.Func, send func(api.Event)) (any, error) {
		res, err := h.attach(r.Context(), op, send, true, false)
		v, _ := res.(api.VM)
		if err != nil {
			return v, err
		}
		b, _ := json.Marshal(v)
		send(api.Event{Type: "vm", Result: b})
		holding(r.Context())
		return v, h.VMs.HoldRemove(r.Context(), v.ID)
	})
}

func (h *Handlers) vmAction(ctx context.Context, r *http.Request, _ api.Empty, p progress.Func) (api.VM, error) {
	var op func(context.Context, string, progress.Func) (vm.Info, error)
	switch r.PathValue("action") {
	case "start":
		op = h.VMs.Start
	case "stop":
		op = h.VMs.Stop
	case "restart":
		op = h.VMs.Restart
	case "kill":
		op = h.VMs.Kill
	default:
		return api.VM{}, &api.Error{Kind: api.KindUnknown, Message: "unknown VM action " + r.PathValue("action")}
	}
	in, err := op(ctx, r.PathValue("name"), p)
	return vmAPI(in), err
}

// forward holds a port forward open for as long as the client keeps the
// response stream open, or until the VM stops.
func (h *Handlers) forward(w http.ResponseWriter, r *http.Request, req api.ForwardRequest) {
	sp, err := forward.ParseSpec(req.Spec)
	if err != nil {
		h.fail(w, r, badRequest(err.Error()))
		return
	}
	f, done, err := h.VMs.Forward(r.Context(), r.PathValue("name"), sp)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer h.VMs.EndForward(f.ID)
	holding(r.Context())
	h.stream(w, r, func(_ progress.Func, send func(api.Event)) (any, error) {
		b, _ := json.Marshal(forwardAPI(*f))
		send(api.Event{Type: "forward", Result: b})
		select {
		case <-r.Context().Done():
			return nil, r.Context().Err()
		case <-done:
			return nil, fmt.Errorf("VM %s stopped; the forward ended", f.VMName)
		}
	})
}

// logs copies a VM's console log, from the byte offset in the query on.
func (h *Handlers) logs(w http.ResponseWriter, r *http.Request, _ api.Empty) {
	var offset uint64
	if off := r.URL.Query().Get("offset"); off != "" {
		n, err := strconv.ParseUint(off, 10, 63)
		if err != nil {
			h.fail(w, r, badRequest("offset must be a byte count >= 0"))
			return
		}
		offset = n
	}
	rc, err := h.VMs.OpenConsoleLog(r.Context(), r.PathValue("name"), int64(offset))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.Copy(w, rc)
}
