package daemon

import (
	"context"
	"net/http"

	"banger/internal/api"
	"banger/internal/image"
	"banger/internal/progress"
)

func (h *Handlers) imageRoutes(mux *http.ServeMux) {
	ep := api.Endpoints
	handle(mux, h, ep.ListImages, func(r *http.Request, _ api.Empty) ([]api.Image, error) {
		imgs, err := h.Images.Images(r.Context())
		return list(imgs, imageAPI), err
	})
	handle(mux, h, ep.GetImage, func(r *http.Request, _ api.Empty) (api.Image, error) {
		img, err := h.Images.Image(r.Context(), r.PathValue("name"))
		return imageAPI(img), err
	})
	handle(mux, h, ep.DeleteImage, func(r *http.Request, _ api.Empty) (api.Deleted, error) {
		return api.Deleted{Deleted: r.PathValue("name")}, h.Images.Delete(r.Context(), r.PathValue("name"))
	})
	handleOp(mux, h, ep.BuildImage, buildOp,
		func(ctx context.Context, _ *http.Request, req api.BuildImage, p progress.Func) (api.Image, error) {
			return h.describe(ctx)(h.Images.Build(ctx, req.Name, req.Force, p))
		})
	handleOp(mux, h, ep.PullImage, pullOp, func(ctx context.Context, _ *http.Request, req api.PullImage, p progress.Func) (api.Image, error) {
		pr, err := pullRequest(req)
		if err != nil {
			return api.Image{}, err
		}
		return h.describe(ctx)(h.Images.Pull(ctx, pr, p))
	})
	handle(mux, h, ep.RegisterImage, func(r *http.Request, req api.RegisterImage) (api.Image, error) {
		return h.describe(r.Context())(h.Images.Register(r.Context(), registerRequest(req)))
	})
	handleEvents(mux, h, ep.PromoteImage, func(r *http.Request, _ api.Empty, p progress.Func) (api.Image, error) {
		return h.describe(r.Context())(h.Images.Promote(r.Context(), r.PathValue("name"), p))
	})
	handle(mux, h, ep.BundleImage, func(r *http.Request, req api.BundleRequest) (api.Bundle, error) {
		b, err := h.Images.BundleImage(r.Context(), r.PathValue("name"), req.Out)
		return bundleAPI(b), err
	})
	handle(mux, h, ep.PruneImageCache, func(r *http.Request, req api.PruneCache) (api.CacheReport, error) {
		rep, err := h.Images.PruneCache(r.Context(), req.DryRun)
		return cacheAPI(req.DryRun, rep), err
	})
	handle(mux, h, ep.Catalog, func(r *http.Request, _ api.Empty) (api.Catalog, error) {
		av, err := h.Images.Available(r.Context())
		return catalogAPI(av), err
	})
}

// describe returns a function that turns the answer of an image operation
// into its wire form.
func (h *Handlers) describe(ctx context.Context) func(image.Image, error) (api.Image, error) {
	return func(img image.Image, err error) (api.Image, error) {
		if err != nil {
			return api.Image{}, err
		}
		return imageAPI(h.Images.Describe(ctx, img)), nil
	}
}
