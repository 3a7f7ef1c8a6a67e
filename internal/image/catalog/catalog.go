// Package catalog lists prebuilt images and kernels banger can download
// instead of building them, and fetches, verifies and unpacks their bundles.
// The sha256 recorded in the catalog is the root of trust: nothing is
// signed, so a catalog must come from a source the user trusts.
package catalog

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"time"

	"banger/internal/image/imageref"
)

//go:embed catalog.json
var embedded []byte

// Embedded returns the catalog compiled into banger.
func Embedded() []byte { return append([]byte(nil), embedded...) }

// Kind is what a bundle holds.
type Kind string

const (
	KindImage  Kind = "image"
	KindKernel Kind = "kernel"
)

// Image is a catalog entry for a root filesystem bundle.
type Image struct {
	Name         string `json:"name"`
	Distro       string `json:"distro"`
	Arch         string `json:"arch"`
	KernelRef    string `json:"kernel_ref"` // name of a Kernel entry
	BundleURL    string `json:"bundle_url"`
	BundleSHA256 string `json:"bundle_sha256"`
	SizeBytes    int64  `json:"size_bytes"` // size of the bundle file
	Description  string `json:"description"`
}

// Kernel is a catalog entry for a kernel bundle (always amd64).
type Kernel struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	BundleURL    string `json:"bundle_url"`
	BundleSHA256 string `json:"bundle_sha256"`
	SizeBytes    int64  `json:"size_bytes"`
}

// Catalog is the content of catalog.json.
type Catalog struct {
	Version int      `json:"version"`
	Images  []Image  `json:"images"`
	Kernels []Kernel `json:"kernels"`
}

// Entry is what Fetch needs to download one bundle, and what WriteBundle
// reports about a bundle it wrote.
type Entry struct {
	Kind         Kind
	Name         string
	Arch         string
	Version      string // kernels
	Distro       string // images
	KernelRef    string // images
	Description  string // images
	BundleURL    string
	BundleSHA256 string
	SizeBytes    int64
	File         string // WriteBundle: local path of the bundle
}

// Entry returns the fetchable form of an image entry.
func (i Image) Entry() Entry {
	return Entry{Kind: KindImage, Name: i.Name, Arch: i.Arch, Distro: i.Distro, KernelRef: i.KernelRef,
		Description: i.Description, BundleURL: i.BundleURL, BundleSHA256: i.BundleSHA256, SizeBytes: i.SizeBytes}
}

// Entry returns the fetchable form of a kernel entry.
func (k Kernel) Entry() Entry {
	return Entry{Kind: KindKernel, Name: k.Name, Arch: kernelArch, Version: k.Version,
		BundleURL: k.BundleURL, BundleSHA256: k.BundleSHA256, SizeBytes: k.SizeBytes}
}

// Image returns the catalog.json stanza for an image bundle.
func (e Entry) Image() Image {
	return Image{Name: e.Name, Distro: e.Distro, Arch: e.Arch, KernelRef: e.KernelRef, BundleURL: e.BundleURL,
		BundleSHA256: e.BundleSHA256, SizeBytes: e.SizeBytes, Description: e.Description}
}

// Kernel returns the catalog.json stanza for a kernel bundle.
func (e Entry) Kernel() Kernel {
	return Kernel{Name: e.Name, Version: e.Version, BundleURL: e.BundleURL, BundleSHA256: e.BundleSHA256, SizeBytes: e.SizeBytes}
}

const kernelArch = "amd64"

var (
	archRE   = regexp.MustCompile(`^[a-z0-9_]{1,16}$`)
	sha256RE = regexp.MustCompile(`^[a-f0-9]{64}$`)
)

// maxCatalogBytes bounds a remote catalog.json.
const maxCatalogBytes = 4 << 20

func (e Entry) validate() error {
	if !imageref.ValidName(e.Name) {
		return fmt.Errorf("catalog entry name %q: use lowercase letters, digits, '.' and '-'", e.Name)
	}
	if !archRE.MatchString(e.Arch) {
		return fmt.Errorf("catalog entry %s: bad arch %q", e.Name, e.Arch)
	}
	if !sha256RE.MatchString(e.BundleSHA256) {
		return fmt.Errorf("catalog entry %s: bundle_sha256 must be 64 lowercase hex digits", e.Name)
	}
	if e.SizeBytes <= 0 {
		return fmt.Errorf("catalog entry %s: size_bytes must be the bundle's size in bytes, a positive number (got %d)", e.Name, e.SizeBytes)
	}
	u, err := url.Parse(e.BundleURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("catalog entry %s: bundle_url %q must be an absolute http(s) URL", e.Name, e.BundleURL)
	}
	return nil
}

// Parse decodes and validates a catalog. Relative bundle URLs are resolved
// against base (the catalog's own URL), when given.
func Parse(data []byte, base string) (Catalog, error) {
	var c Catalog
	if err := json.Unmarshal(data, &c); err != nil {
		return Catalog{}, fmt.Errorf("parsing catalog: %w", err)
	}
	if c.Version != 1 {
		return Catalog{}, fmt.Errorf("catalog version %d is not supported (want 1)", c.Version)
	}
	var b *url.URL
	if base != "" {
		var err error
		if b, err = url.Parse(base); err != nil {
			return Catalog{}, fmt.Errorf("catalog URL %q: %w", base, err)
		}
	}
	resolve := func(s string) string {
		if b == nil {
			return s
		}
		u, err := url.Parse(s)
		if err != nil {
			return s
		}
		return b.ResolveReference(u).String()
	}
	for i := range c.Images {
		c.Images[i].BundleURL = resolve(c.Images[i].BundleURL)
		if err := c.Images[i].Entry().validate(); err != nil {
			return Catalog{}, err
		}
	}
	for i := range c.Kernels {
		c.Kernels[i].BundleURL = resolve(c.Kernels[i].BundleURL)
		if err := c.Kernels[i].Entry().validate(); err != nil {
			return Catalog{}, err
		}
	}
	return c, nil
}

// Load parses the embedded catalog and, when remoteURL is set, merges the
// remote catalog over it: a remote image replaces an embedded one of the
// same name and arch, a remote kernel one of the same name. When the remote
// catalog cannot be had, Load returns the embedded catalog and the error, so
// the caller can warn and carry on. client nil means a client with a
// 30-second timeout.
func Load(ctx context.Context, client *http.Client, embeddedJSON []byte, remoteURL string) (Catalog, error) {
	base, err := Parse(embeddedJSON, "")
	if err != nil {
		return Catalog{}, fmt.Errorf("embedded catalog: %w", err)
	}
	if remoteURL == "" {
		return base, nil
	}
	if err := CheckURL(remoteURL); err != nil {
		return base, err
	}
	remote, err := fetchCatalog(ctx, client, remoteURL)
	if err != nil {
		return base, fmt.Errorf("remote catalog %s: %w", remoteURL, err)
	}
	return Merge(base, remote), nil
}

// Merge returns base with over's entries added or replacing same-named ones.
func Merge(base, over Catalog) Catalog {
	out := Catalog{Version: 1}
	type ikey struct{ name, arch string }
	imgs := map[ikey]int{}
	for _, list := range [][]Image{base.Images, over.Images} {
		for _, im := range list {
			k := ikey{im.Name, im.Arch}
			if i, ok := imgs[k]; ok {
				out.Images[i] = im
				continue
			}
			imgs[k] = len(out.Images)
			out.Images = append(out.Images, im)
		}
	}
	kers := map[string]int{}
	for _, list := range [][]Kernel{base.Kernels, over.Kernels} {
		for _, k := range list {
			if i, ok := kers[k.Name]; ok {
				out.Kernels[i] = k
				continue
			}
			kers[k.Name] = len(out.Kernels)
			out.Kernels = append(out.Kernels, k)
		}
	}
	return out
}

// FindImage returns the image of that name for arch.
func (c Catalog) FindImage(name, arch string) (Image, bool) {
	for _, im := range c.Images {
		if im.Name == name && im.Arch == arch {
			return im, true
		}
	}
	return Image{}, false
}

// FindKernel returns the kernel of that name.
func (c Catalog) FindKernel(name string) (Kernel, bool) {
	for _, k := range c.Kernels {
		if k.Name == name {
			return k, true
		}
	}
	return Kernel{}, false
}

func fetchCatalog(ctx context.Context, client *http.Client, u string) (Catalog, error) {
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	client = catalogClient(client)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Catalog{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return Catalog{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Catalog{}, fmt.Errorf("HTTP %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxCatalogBytes+1))
	if err != nil {
		return Catalog{}, err
	}
	if len(data) > maxCatalogBytes {
		return Catalog{}, errors.New("catalog larger than 4 MiB")
	}
	return Parse(data, u)
}
