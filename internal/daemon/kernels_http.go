package daemon

import (
	"net/http"

	"banger/internal/api"
	"banger/internal/progress"
)

func (h *Handlers) kernelRoutes(mux *http.ServeMux) {
	ep := api.Endpoints
	handle(mux, h, ep.ListKernels, func(r *http.Request, _ api.Empty) ([]api.Kernel, error) {
		ks, err := h.Images.Kernels(r.Context())
		return list(ks, kernelAPI), err
	})
	handle(mux, h, ep.GetKernel, func(r *http.Request, _ api.Empty) (api.Kernel, error) {
		k, err := h.Images.Kernel(r.Context(), r.PathValue("name"))
		return kernelAPI(k), err
	})
	handle(mux, h, ep.DeleteKernel, func(r *http.Request, _ api.Empty) (api.Deleted, error) {
		return api.Deleted{Deleted: r.PathValue("name")}, h.Images.DeleteKernel(r.Context(), r.PathValue("name"))
	})
	handleEvents(mux, h, ep.PullKernel, func(r *http.Request, req api.PullKernel, p progress.Func) (api.Kernel, error) {
		k, err := h.Images.PullKernel(r.Context(), req.Name, p)
		return kernelAPI(k), err
	})
	handle(mux, h, ep.ImportKernel, func(r *http.Request, req api.ImportKernel) (api.Kernel, error) {
		k, err := h.Images.ImportKernel(r.Context(), req.Name, req.From)
		return kernelAPI(k), err
	})
	handle(mux, h, ep.BundleKernel, func(r *http.Request, req api.BundleRequest) (api.Bundle, error) {
		b, err := h.Images.BundleKernel(r.Context(), r.PathValue("name"), req.Out)
		return bundleAPI(b), err
	})
}
