package api

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
