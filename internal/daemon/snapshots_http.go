package daemon

import (
	"context"
	"net/http"

	"banger/internal/api"
	"banger/internal/progress"
	"banger/internal/vm"
)

func (h *Handlers) snapshotRoutes(mux *http.ServeMux) {
	ep := api.Endpoints
	handleOp(mux, h, ep.WarmImage, warmOp,
		func(ctx context.Context, r *http.Request, req api.WarmImage, p progress.Func) (api.Snapshot, error) {
			tp, err := h.VMs.Warm(ctx, vm.WarmRequest{Image: r.PathValue("name"), VCPUs: req.VCPUs, MemoryMiB: req.MemoryMiB, Init: req.Init}, p)
			return snapshotAPI(tp), err
		})
	handle(mux, h, ep.ListSnapshots, func(r *http.Request, _ api.Empty) ([]api.Snapshot, error) {
		tps, err := h.VMs.Snapshots()
		return list(tps, snapshotAPI), err
	})
	handle(mux, h, ep.DeleteSnapshot, func(r *http.Request, _ api.Empty) (api.Deleted, error) {
		key, err := h.VMs.DeleteSnapshot(r.Context(), r.PathValue("key"))
		return api.Deleted{Deleted: key}, err
	})
}

func snapshotAPI(tp vm.Template) api.Snapshot {
	return api.Snapshot{Key: tp.Key, Image: tp.ImageName, Backend: tp.Backend, VCPUs: tp.VCPUs, MemoryMiB: tp.MemoryMiB,
		Created: tp.Created, BootSeconds: tp.BootSeconds, Dir: tp.Dir, Init: tp.Init}
}
