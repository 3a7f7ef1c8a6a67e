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
	"os"
	"strconv"
	"sync"
	"time"

	"banger/internal/api"
	"banger/internal/forward"
	"banger/internal/image"
	"banger/internal/progress"
	"banger/internal/store"
	"banger/internal/units"
	"banger/internal/vm"
)

// Handlers decode a request, call a service and encode the answer.
type Handlers struct {
	VMs      *vm.Service
	Images   *image.Service
	Store    *store.Store
	Log      *slog.Logger
	Socket   string
	Version  string
	Shutdown func()
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
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ping", h.ping)
	mux.HandleFunc("POST /v1/shutdown", h.shutdown)
	mux.HandleFunc("GET /v1/vms", h.listVMs)
	mux.HandleFunc("POST /v1/vms", h.createVM)
	mux.HandleFunc("POST /v1/vms/prune", h.pruneVMs)
	mux.HandleFunc("GET /v1/vms/{name}", h.getVM)
	mux.HandleFunc("DELETE /v1/vms/{name}", h.deleteVM)
	mux.HandleFunc("PATCH /v1/vms/{name}", h.setVM)
	mux.HandleFunc("POST /v1/vms/{name}/{action}", h.vmAction)
	mux.HandleFunc("GET /v1/vms/{name}/ssh", h.sshTarget)
	mux.HandleFunc("GET /v1/vms/{name}/logs", h.logs)
	mux.HandleFunc("POST /v1/vms/{name}/workspace", h.setWorkspace)
	mux.HandleFunc("POST /v1/vms/{name}/forwards", h.forward)
	mux.HandleFunc("GET /v1/forwards", h.listForwards)
	mux.HandleFunc("GET /v1/vms/{name}/ports", h.ports)
	mux.HandleFunc("GET /v1/vms/{name}/stats", h.stats)
	mux.HandleFunc("GET /v1/images", h.listImages)
	mux.HandleFunc("POST /v1/images/build", h.buildImage)
	mux.HandleFunc("GET /v1/images/{name}", h.getImage)
	mux.HandleFunc("DELETE /v1/images/{name}", h.deleteImage)
	mux.HandleFunc("GET /v1/kernels", h.listKernels)
	h.imageRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, &api.Error{Kind: api.KindUnknown, Message: "unknown method " + r.Method + " " + r.URL.Path})
	})
	return h.withOp(mux)
}

func (h *Handlers) withOp(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newOpID()
		ctx := context.WithValue(r.Context(), opKey{}, id)
		w.Header().Set(api.OpHeader, id)
		start := time.Now()
		h.Log.InfoContext(ctx, "request", "op", id, "method", r.Method, "path", r.URL.Path)
		next.ServeHTTP(w, r.WithContext(ctx))
		h.Log.InfoContext(ctx, "done", "op", id, "method", r.Method, "path", r.URL.Path, "took", time.Since(start).Round(time.Millisecond).String())
	})
}

// apiError maps a service error to its wire form.
func apiError(ctx context.Context, err error) (*api.Error, int) {
	var ae *api.Error
	if errors.As(err, &ae) {
		ae.OpID = OpID(ctx)
		return ae, http.StatusBadRequest
	}
	e := &api.Error{Kind: api.KindFailed, Message: err.Error(), OpID: OpID(ctx)}
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, image.ErrNoRecipe):
		e.Kind, code = api.KindNotFound, http.StatusNotFound
	case errors.Is(err, store.ErrAlreadyExists):
		e.Kind, code = api.KindAlreadyExists, http.StatusConflict
	case errors.Is(err, store.ErrInUse):
		e.Kind, code = api.KindInUse, http.StatusConflict
	case errors.Is(err, vm.ErrBadRequest):
		e.Kind, code = api.KindBadRequest, http.StatusBadRequest
	}
	return e, code
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

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return &api.Error{Kind: api.KindBadRequest, Message: "decode request: " + err.Error()}
	}
	return nil
}

// stream runs op and streams its progress as NDJSON events, ending with a
// result or an error event.
func (h *Handlers) stream(w http.ResponseWriter, r *http.Request, op func(progress.Func) (any, error)) {
	h.streamRaw(w, r, func(p progress.Func, _ func(api.Event)) (any, error) { return op(p) })
}

// streamRaw is stream for operations that also send events of their own.
func (h *Handlers) streamRaw(w http.ResponseWriter, r *http.Request, op func(progress.Func, func(api.Event)) (any, error)) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	send := func(ev api.Event) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(ev)
		if flusher != nil {
			flusher.Flush()
		}
	}
	p := func(e progress.Event) {
		typ := "progress"
		if e.Total == 0 {
			typ = "log"
			h.Log.InfoContext(r.Context(), e.Message, "op", OpID(r.Context()), "step", e.Step)
		}
		send(api.Event{Type: typ, Step: e.Step, Done: e.Done, Total: e.Total, Message: e.Message})
	}
	res, err := op(p, send)
	if err != nil {
		e, _ := apiError(r.Context(), err)
		h.Log.WarnContext(r.Context(), "operation failed", "op", OpID(r.Context()), "err", e.Message)
		send(api.Event{Type: "error", Error: e})
		return
	}
	b, err := json.Marshal(res)
	if err != nil {
		send(api.Event{Type: "error", Error: &api.Error{Kind: api.KindFailed, Message: err.Error(), OpID: OpID(r.Context())}})
		return
	}
	send(api.Event{Type: "result", Result: b})
}

func (h *Handlers) ping(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, api.Ping{Version: h.Version, PID: os.Getpid(), Socket: h.Socket})
}

func (h *Handlers) shutdown(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "shutting down"})
	if h.Shutdown != nil {
		go h.Shutdown()
	}
}

func toAPI(in vm.Info) api.VM {
	var ws *api.Workspace
	if in.Workspace != nil {
		ws = &api.Workspace{HostPath: in.Workspace.HostPath, GuestPath: in.Workspace.GuestPath, Head: in.Workspace.Head,
			UpdatedAt: in.Workspace.UpdatedAt}
	}
	return api.VM{Workspace: ws,
		ID: in.ID, Name: in.Name, State: in.State, Image: in.ImageName, IP: in.IP, MAC: in.MAC,
		VCPUs: in.VCPUs, MemoryMiB: in.MemoryMiB, DiskBytes: in.DiskBytes, NAT: in.NAT,
		Backend: in.Backend, Accel: in.Accel, PID: in.PID, Tap: in.Tap, CreatedAt: in.CreatedAt, Dir: in.Dir,
	}
}

func (h *Handlers) listVMs(w http.ResponseWriter, r *http.Request) {
	infos, err := h.VMs.List(r.Context())
	out := make([]api.VM, 0, len(infos))
	for _, in := range infos {
		out = append(out, toAPI(in))
	}
	h.reply(w, r, out, err)
}

func (h *Handlers) getVM(w http.ResponseWriter, r *http.Request) {
	in, err := h.VMs.Get(r.Context(), r.PathValue("name"))
	h.reply(w, r, toAPI(in), err)
}

func (h *Handlers) createVM(w http.ResponseWriter, r *http.Request) {
	var req api.CreateVM
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	cr := vm.CreateRequest{Name: req.Name, Image: req.Image, VCPUs: req.VCPUs, MemoryMiB: req.MemoryMiB, NAT: req.NAT,
		NoStart: req.NoStart, GitName: req.GitName, GitEmail: req.GitEmail}
	if req.DiskSize != "" {
		n, err := units.ParseSize(req.DiskSize)
		if err != nil {
			h.fail(w, r, &api.Error{Kind: api.KindBadRequest, Message: "--disk-size: " + err.Error()})
			return
		}
		cr.DiskBytes = n
	}
	if err := h.VMs.Check(r.Context(), &cr); err != nil {
		h.fail(w, r, err)
		return
	}
	h.stream(w, r, func(p progress.Func) (any, error) {
		in, err := h.VMs.Create(r.Context(), cr, p)
		return toAPI(in), err
	})
}

func (h *Handlers) vmAction(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
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
		h.fail(w, r, &api.Error{Kind: api.KindUnknown, Message: "unknown VM action " + r.PathValue("action")})
		return
	}
	h.stream(w, r, func(p progress.Func) (any, error) {
		in, err := op(r.Context(), name, p)
		return toAPI(in), err
	})
}

func (h *Handlers) setWorkspace(w http.ResponseWriter, r *http.Request) {
	var ws api.Workspace
	if err := decode(r, &ws); err != nil {
		h.fail(w, r, err)
		return
	}
	err := h.VMs.SetWorkspace(r.Context(), r.PathValue("name"), store.Workspace{HostPath: ws.HostPath, GuestPath: ws.GuestPath, Head: ws.Head})
	h.reply(w, r, ws, err)
}

// forward holds a port forward open for as long as the client keeps the
// response stream open, or until the VM stops.
func (h *Handlers) forward(w http.ResponseWriter, r *http.Request) {
	var req api.ForwardRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	sp, err := forward.ParseSpec(req.Spec)
	if err != nil {
		h.fail(w, r, &api.Error{Kind: api.KindBadRequest, Message: err.Error()})
		return
	}
	f, done, err := h.VMs.Forward(r.Context(), r.PathValue("name"), sp)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer h.VMs.Forwards.Remove(f.ID)
	h.streamRaw(w, r, func(_ progress.Func, send func(api.Event)) (any, error) {
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

func forwardAPI(f forward.Forward) api.Forward {
	return api.Forward{ID: f.ID, VM: f.VMName, Listen: f.Listen.String(), Target: f.Target.String(), Started: f.Started}
}

func (h *Handlers) listForwards(w http.ResponseWriter, r *http.Request) {
	out := []api.Forward{}
	for _, f := range h.VMs.Forwards.List("") {
		out = append(out, forwardAPI(f))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handlers) ports(w http.ResponseWriter, r *http.Request) {
	ports, err := h.VMs.Ports(r.Context(), r.PathValue("name"))
	out := make([]api.Port, 0, len(ports))
	for _, p := range ports {
		out = append(out, api.Port{Proto: p.Proto, Address: p.Address, Port: p.Port, PID: p.PID, Process: p.Process})
	}
	h.reply(w, r, out, err)
}

func (h *Handlers) stats(w http.ResponseWriter, r *http.Request) {
	st, err := h.VMs.Stats(r.Context(), r.PathValue("name"))
	out := api.Stats{Load1: st.Load1, Load5: st.Load5, Load15: st.Load15, MemTotal: st.MemTotal,
		MemAvailable: st.MemAvailable, UptimeSeconds: st.UptimeSeconds, Hostname: st.Hostname}
	for _, d := range st.Disks {
		out.Disks = append(out.Disks, api.DiskUsage{Path: d.Path, Total: d.Total, Free: d.Free})
	}
	h.reply(w, r, out, err)
}

func (h *Handlers) setVM(w http.ResponseWriter, r *http.Request) {
	var req api.SetVM
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	in, err := h.VMs.Set(r.Context(), r.PathValue("name"), vm.SetRequest{VCPUs: req.VCPUs, MemoryMiB: req.MemoryMiB, NAT: req.NAT})
	h.reply(w, r, toAPI(in), err)
}

func (h *Handlers) deleteVM(w http.ResponseWriter, r *http.Request) {
	err := h.VMs.Delete(r.Context(), r.PathValue("name"))
	h.reply(w, r, map[string]string{"deleted": r.PathValue("name")}, err)
}

func (h *Handlers) pruneVMs(w http.ResponseWriter, r *http.Request) {
	deleted, err := h.VMs.Prune(r.Context())
	if deleted == nil {
		deleted = []string{}
	}
	h.reply(w, r, api.PruneResult{Deleted: deleted}, err)
}

func (h *Handlers) sshTarget(w http.ResponseWriter, r *http.Request) {
	t, err := h.VMs.Target(r.Context(), r.PathValue("name"))
	h.reply(w, r, api.SSHTarget{VM: t.Name, User: "root", Host: t.Host, Port: 22, KeyPath: t.KeyPath,
		KnownHosts: t.KnownHosts, HostKeyAlias: t.Alias}, err)
}

func (h *Handlers) logs(w http.ResponseWriter, r *http.Request) {
	path, err := h.VMs.ConsoleLog(r.Context(), r.PathValue("name"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		w.Header().Set("Content-Type", "text/plain")
		return // never booted: empty log
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer f.Close()
	if off := r.URL.Query().Get("offset"); off != "" {
		n, err := strconv.ParseInt(off, 10, 64)
		if err != nil || n < 0 {
			h.fail(w, r, &api.Error{Kind: api.KindBadRequest, Message: "offset must be a byte count >= 0"})
			return
		}
		if _, err := f.Seek(n, io.SeekStart); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.Copy(w, f)
}

func (h *Handlers) imageAPI(r *http.Request, img store.Image) api.Image {
	out := api.Image{ID: img.ID, Name: img.Name, Rootfs: img.Rootfs, SizeBytes: img.SizeBytes,
		Managed: img.Managed, Source: img.Source, CreatedAt: img.CreatedAt, Init: img.Init}
	if k, err := h.Store.GetKernel(r.Context(), img.KernelID); err == nil {
		out.Kernel = k.Name
	}
	return out
}

func (h *Handlers) listImages(w http.ResponseWriter, r *http.Request) {
	imgs, err := h.Store.ListImages(r.Context())
	out := make([]api.Image, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, h.imageAPI(r, img))
	}
	h.reply(w, r, out, err)
}

func (h *Handlers) getImage(w http.ResponseWriter, r *http.Request) {
	img, err := h.Store.GetImage(r.Context(), r.PathValue("name"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.imageAPI(r, img))
}

func (h *Handlers) buildImage(w http.ResponseWriter, r *http.Request) {
	var req api.BuildImage
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	h.stream(w, r, func(p progress.Func) (any, error) {
		img, err := h.Images.Build(r.Context(), req.Name, req.Force, p)
		if err != nil {
			return nil, err
		}
		return h.imageAPI(r, img), nil
	})
}

func (h *Handlers) deleteImage(w http.ResponseWriter, r *http.Request) {
	err := h.Images.Delete(r.Context(), r.PathValue("name"))
	h.reply(w, r, map[string]string{"deleted": r.PathValue("name")}, err)
}

func (h *Handlers) listKernels(w http.ResponseWriter, r *http.Request) {
	ks, err := h.Store.ListKernels(r.Context())
	out := make([]api.Kernel, 0, len(ks))
	for _, k := range ks {
		out = append(out, api.Kernel{ID: k.ID, Name: k.Name, Path: k.Path, Initrd: k.Initrd, Version: k.Version,
			Managed: k.Managed, CreatedAt: k.CreatedAt})
	}
	h.reply(w, r, out, err)
}
