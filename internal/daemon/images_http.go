package daemon

import (
	"context"
	"errors"
	"net/http"

	"banger/internal/api"
	"banger/internal/image"
	"banger/internal/progress"
	"banger/internal/store"
	"banger/internal/units"
)

// imageRoutes registers the image and kernel management endpoints beyond
// list/show/build/delete.
func (h *Handlers) imageRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/images/pull", h.pullImage)
	mux.HandleFunc("POST /v1/images/register", h.registerImage)
	mux.HandleFunc("POST /v1/images/cache/prune", h.pruneImageCache)
	mux.HandleFunc("POST /v1/images/{name}/promote", h.promoteImage)
	mux.HandleFunc("POST /v1/images/{name}/bundle", h.bundleImage)
	mux.HandleFunc("GET /v1/catalog", h.getCatalog)
	mux.HandleFunc("POST /v1/kernels/pull", h.pullKernel)
	mux.HandleFunc("POST /v1/kernels/import", h.importKernel)
	mux.HandleFunc("GET /v1/kernels/{name}", h.getKernel)
	mux.HandleFunc("DELETE /v1/kernels/{name}", h.deleteKernel)
	mux.HandleFunc("POST /v1/kernels/{name}/bundle", h.bundleKernel)
}

// imageErr marks request errors of the image service as bad requests.
func imageErr(err error) error {
	if errors.Is(err, image.ErrInvalid) {
		return &api.Error{Kind: api.KindBadRequest, Message: err.Error()}
	}
	return err
}

func kernelAPI(k store.Kernel) api.Kernel {
	return api.Kernel{ID: k.ID, Name: k.Name, Path: k.Path, Initrd: k.Initrd, Version: k.Version,
		Managed: k.Managed, CreatedAt: k.CreatedAt}
}

func bundleAPI(b image.BundleResult) api.Bundle {
	return api.Bundle{Kind: string(b.Entry.Kind), Name: b.Entry.Name, File: b.File, EntryFile: b.EntryFile,
		SHA256: b.Entry.BundleSHA256, SizeBytes: b.Entry.SizeBytes}
}

func (h *Handlers) pullImage(w http.ResponseWriter, r *http.Request) {
	var req api.PullImage
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	pr := image.PullRequest{Ref: req.Ref, Name: req.Name, Kernel: req.Kernel}
	if req.Size != "" {
		n, err := units.ParseSize(req.Size)
		if err != nil {
			h.fail(w, r, &api.Error{Kind: api.KindBadRequest, Message: "--size: " + err.Error()})
			return
		}
		pr.SizeBytes = n
	}
	h.stream(w, r, func(p progress.Func) (any, error) {
		img, err := h.Images.Pull(r.Context(), pr, p)
		if err != nil {
			return nil, imageErr(err)
		}
		return h.imageAPI(r, img), nil
	})
}

func (h *Handlers) registerImage(w http.ResponseWriter, r *http.Request) {
	var req api.RegisterImage
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	img, err := h.Images.Register(r.Context(), image.RegisterRequest{Name: req.Name, Rootfs: req.Rootfs,
		Kernel: req.Kernel, Initrd: req.Initrd, KernelRef: req.KernelRef})
	h.reply(w, r, h.imageAPI(r, img), imageErr(err))
}

func (h *Handlers) promoteImage(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	h.stream(w, r, func(p progress.Func) (any, error) {
		img, err := h.Images.Promote(r.Context(), name, p)
		if err != nil {
			return nil, imageErr(err)
		}
		return h.imageAPI(r, img), nil
	})
}

func (h *Handlers) bundleImage(w http.ResponseWriter, r *http.Request) {
	h.bundle(w, r, h.Images.BundleImage)
}

func (h *Handlers) bundleKernel(w http.ResponseWriter, r *http.Request) {
	h.bundle(w, r, h.Images.BundleKernel)
}

func (h *Handlers) bundle(w http.ResponseWriter, r *http.Request, op func(context.Context, string, string) (image.BundleResult, error)) {
	var req api.BundleRequest
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	b, err := op(r.Context(), r.PathValue("name"), req.Out)
	h.reply(w, r, bundleAPI(b), imageErr(err))
}

func (h *Handlers) pruneImageCache(w http.ResponseWriter, r *http.Request) {
	var req api.PruneCache
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	rep, err := h.Images.PruneCache(r.Context(), req.DryRun)
	out := api.CacheReport{DryRun: req.DryRun, Files: []api.CacheFile{}, Bytes: rep.Bytes}
	for _, f := range rep.Files {
		out.Files = append(out.Files, api.CacheFile{Path: f.Path, Bytes: f.Bytes})
	}
	h.reply(w, r, out, imageErr(err))
}

func (h *Handlers) getCatalog(w http.ResponseWriter, r *http.Request) {
	cat, err := h.Images.Catalog(r.Context())
	out := api.Catalog{Images: []api.CatalogImage{}, Kernels: []api.CatalogKernel{}}
	var warn *image.CatalogWarning
	if errors.As(err, &warn) {
		out.Warning, err = warn.Error(), nil
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	for _, i := range cat.Images {
		_, gerr := h.Store.GetImage(r.Context(), i.Name)
		out.Images = append(out.Images, api.CatalogImage{Name: i.Name, Distro: i.Distro, Arch: i.Arch, KernelRef: i.KernelRef,
			SizeBytes: i.SizeBytes, Description: i.Description, Installed: gerr == nil})
	}
	for _, k := range cat.Kernels {
		_, gerr := h.Store.GetKernel(r.Context(), k.Name)
		out.Kernels = append(out.Kernels, api.CatalogKernel{Name: k.Name, Version: k.Version, SizeBytes: k.SizeBytes, Installed: gerr == nil})
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handlers) pullKernel(w http.ResponseWriter, r *http.Request) {
	var req api.PullKernel
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	h.stream(w, r, func(p progress.Func) (any, error) {
		k, err := h.Images.PullKernel(r.Context(), req.Name, p)
		if err != nil {
			return nil, imageErr(err)
		}
		return kernelAPI(k), nil
	})
}

func (h *Handlers) importKernel(w http.ResponseWriter, r *http.Request) {
	var req api.ImportKernel
	if err := decode(r, &req); err != nil {
		h.fail(w, r, err)
		return
	}
	k, err := h.Images.ImportKernel(r.Context(), req.Name, req.From)
	h.reply(w, r, kernelAPI(k), imageErr(err))
}

func (h *Handlers) getKernel(w http.ResponseWriter, r *http.Request) {
	k, err := h.Store.GetKernel(r.Context(), r.PathValue("name"))
	h.reply(w, r, kernelAPI(k), err)
}

func (h *Handlers) deleteKernel(w http.ResponseWriter, r *http.Request) {
	err := h.Images.DeleteKernel(r.Context(), r.PathValue("name"))
	h.reply(w, r, map[string]string{"deleted": r.PathValue("name")}, imageErr(err))
}
