package api

import (
	"context"
	"net/http"
	"net/url"
)

// PullImage is the body of POST /v1/images/pull.
type PullImage struct {
	// Ref is a catalog image name, a registry reference, an OCI layout
	// directory or a docker-archive file (paths as the daemon sees them).
	Ref    string `json:"ref"`
	Name   string `json:"name,omitempty"`
	Size   string `json:"size,omitempty"`   // rootfs size of a container image, e.g. "4G"
	Kernel string `json:"kernel,omitempty"` // kernel to boot it with
}

// RegisterImage is the body of POST /v1/images/register: files used in
// place. Give Kernel (and optionally Initrd) or KernelRef.
type RegisterImage struct {
	Name      string `json:"name"`
	Rootfs    string `json:"rootfs"`
	Kernel    string `json:"kernel,omitempty"`
	Initrd    string `json:"initrd,omitempty"`
	KernelRef string `json:"kernel_ref,omitempty"`
}

// BundleRequest is the body of POST /v1/images/{name}/bundle and
// /v1/kernels/{name}/bundle.
type BundleRequest struct {
	Out string `json:"out"` // absolute directory
}

// Bundle describes a written bundle.
type Bundle struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	File      string `json:"file"`       // the .tar.zst
	EntryFile string `json:"entry_file"` // its catalog.json stanza
	SHA256    string `json:"sha256"`
	SizeBytes int64  `json:"size_bytes"`
}

// PruneCache is the body of POST /v1/images/cache/prune.
type PruneCache struct {
	DryRun bool `json:"dry_run,omitempty"`
}

// CacheFile is one file of a download cache.
type CacheFile struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
}

// CacheReport lists what a cache prune removed (or would remove).
type CacheReport struct {
	DryRun bool        `json:"dry_run"`
	Files  []CacheFile `json:"files"`
	Bytes  int64       `json:"bytes"`
}

// CatalogImage is an image banger can download.
type CatalogImage struct {
	Name        string `json:"name"`
	Distro      string `json:"distro"`
	Arch        string `json:"arch"`
	KernelRef   string `json:"kernel_ref"`
	SizeBytes   int64  `json:"size_bytes"`
	Description string `json:"description"`
	Installed   bool   `json:"installed"`
}

// CatalogKernel is a kernel banger can download.
type CatalogKernel struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	SizeBytes int64  `json:"size_bytes"`
	Installed bool   `json:"installed"`
}

// Catalog is the answer of GET /v1/catalog.
type Catalog struct {
	Images  []CatalogImage  `json:"images"`
	Kernels []CatalogKernel `json:"kernels"`
	// Warning is set when the remote catalog could not be used.
	Warning string `json:"warning,omitempty"`
}

// PullKernel is the body of POST /v1/kernels/pull.
type PullKernel struct {
	Name string `json:"name"`
}

// ImportKernel is the body of POST /v1/kernels/import.
type ImportKernel struct {
	Name string `json:"name"`
	From string `json:"from"` // absolute directory
}

func imagePath(name, rest string) string  { return "/images/" + url.PathEscape(name) + rest }
func kernelPath(name, rest string) string { return "/kernels/" + url.PathEscape(name) + rest }

// PullImage installs an image from the catalog or a container image,
// streaming progress.
func (c *Client) PullImage(ctx context.Context, req PullImage, onEvent func(Event)) (Image, error) {
	var out Image
	err := c.stream(ctx, http.MethodPost, "/images/pull", req, &out, onEvent)
	return out, err
}

// RegisterImage records files as an unmanaged image.
func (c *Client) RegisterImage(ctx context.Context, req RegisterImage) (Image, error) {
	var out Image
	err := c.call(ctx, http.MethodPost, "/images/register", req, &out)
	return out, err
}

// PromoteImage copies a registered image into banger's storage, streaming
// progress.
func (c *Client) PromoteImage(ctx context.Context, name string, onEvent func(Event)) (Image, error) {
	var out Image
	err := c.stream(ctx, http.MethodPost, imagePath(name, "/promote"), nil, &out, onEvent)
	return out, err
}

// BundleImage writes a catalog bundle of an image into req.Out.
func (c *Client) BundleImage(ctx context.Context, name string, req BundleRequest) (Bundle, error) {
	var out Bundle
	err := c.call(ctx, http.MethodPost, imagePath(name, "/bundle"), req, &out)
	return out, err
}

// PruneImageCache removes cached OCI layers and catalog bundles.
func (c *Client) PruneImageCache(ctx context.Context, req PruneCache) (CacheReport, error) {
	var out CacheReport
	err := c.call(ctx, http.MethodPost, "/images/cache/prune", req, &out)
	return out, err
}

// Catalog lists the images and kernels banger can download.
func (c *Client) Catalog(ctx context.Context) (Catalog, error) {
	var out Catalog
	err := c.call(ctx, http.MethodGet, "/catalog", nil, &out)
	return out, err
}

// GetKernel shows one kernel.
func (c *Client) GetKernel(ctx context.Context, name string) (Kernel, error) {
	var out Kernel
	err := c.call(ctx, http.MethodGet, kernelPath(name, ""), nil, &out)
	return out, err
}

// DeleteKernel removes a kernel no image uses.
func (c *Client) DeleteKernel(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, kernelPath(name, ""), nil, nil)
}

// PullKernel installs a kernel from the catalog, streaming progress.
func (c *Client) PullKernel(ctx context.Context, req PullKernel, onEvent func(Event)) (Kernel, error) {
	var out Kernel
	err := c.stream(ctx, http.MethodPost, "/kernels/pull", req, &out, onEvent)
	return out, err
}

// ImportKernel copies a kernel from a directory into banger's storage.
func (c *Client) ImportKernel(ctx context.Context, req ImportKernel) (Kernel, error) {
	var out Kernel
	err := c.call(ctx, http.MethodPost, "/kernels/import", req, &out)
	return out, err
}

// BundleKernel writes a catalog bundle of a kernel into req.Out.
func (c *Client) BundleKernel(ctx context.Context, name string, req BundleRequest) (Bundle, error) {
	var out Bundle
	err := c.call(ctx, http.MethodPost, kernelPath(name, "/bundle"), req, &out)
	return out, err
}
