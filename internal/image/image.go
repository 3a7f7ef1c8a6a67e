// Package image manages images (root filesystems) and the kernels they boot
// with: building the Debian golden image, looking images up, deleting them.
package image

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"banger/internal/access"
	"banger/internal/crashpoint"
	"banger/internal/hosttools"
	"banger/internal/image/catalog"
	"banger/internal/image/golden"
	"banger/internal/image/imageref"
	"banger/internal/inflight"
	"banger/internal/progress"
	"banger/internal/store"
)

// Recipes are the images banger can build itself, by name.
var recipes = map[string]string{ // name -> Debian suite
	"debian-bookworm": "bookworm",
}

// Recipes lists the buildable image names.
func Recipes() []string {
	out := make([]string, 0, len(recipes))
	for k := range recipes {
		out = append(out, k)
	}
	return out
}

// ErrInvalid is wrapped by errors about a request the caller must change
// (a bad name, a missing file, conflicting options).
var ErrInvalid = errors.New("invalid request")

// checkName checks an image or kernel name (kind says which).
func checkName(kind, name string) error {
	if !imageref.ValidName(name) {
		return fmt.Errorf("%s name %q: %w: %s", kind, name, ErrInvalid, imageref.NameRule)
	}
	return nil
}

// ErrNoRecipe is returned for an image that is neither present nor buildable.
var ErrNoRecipe = errors.New("no such image")

// Builder builds a golden image; *golden.Builder satisfies it.
type Builder interface {
	Build(ctx context.Context, spec golden.Spec, p golden.Progress) (golden.Result, error)
}

// Service owns the image and kernel stores on disk and in the database.
type Service struct {
	Store       *store.Store
	Builder     Builder
	ImagesDir   string
	KernelsDir  string
	CacheDir    string // debootstrap package cache
	TmpDir      string // scratch space on the same filesystem as ImagesDir
	AgentBinary string
	Mirror      string
	Log         *slog.Logger

	// DefaultImage is the image whose kernel container images boot with
	// when no kernel is named; Ensure builds it when missing.
	DefaultImage string
	// CatalogURL is a remote catalog.json merged over the embedded one;
	// empty means the embedded catalog only.
	CatalogURL string
	// OCICacheDir holds compressed OCI layer blobs; empty means cache/oci
	// in the state dir (the parent of ImagesDir).
	OCICacheDir string
	// BundleCacheDir holds downloaded catalog bundles; empty means
	// cache/bundles in the state dir.
	BundleCacheDir string
	// HTTPClient downloads catalogs and bundles; nil means a default client.
	HTTPClient *http.Client
	// DeleteSnapshots, when set, removes the VM snapshots (templates) made
	// of an image; Delete calls it with the image's id once the image is
	// gone.
	DeleteSnapshots func(ctx context.Context, imageID string) error
	// Crash is the test-only crash hook (see internal/crashpoint); the
	// zero hook does nothing.
	Crash crashpoint.Hook

	images  inflight.Group[store.Image, progress.Event]  // builds, pulls and promotions under way, by image name
	kernels inflight.Group[store.Kernel, progress.Event] // kernel pulls under way, by kernel name

	fetcherOnce sync.Once
	fetcher     *catalog.Fetcher

	// cacheMu is held shared by operations that use the download caches
	// and exclusively by PruneCache.
	cacheMu sync.RWMutex
}

// shared runs fn as the operation what ("build", "pull") on name, unless
// one on name is under way in g, in which case the caller joins that one
// (inflight.Group): every caller receives the progress of the operation
// from the moment it joined, and its result.
func shared[V any](ctx context.Context, g *inflight.Group[V, progress.Event], name, what string, p progress.Func,
	fn func(context.Context, progress.Func) (V, error)) (V, error) {
	return g.Do(ctx, inflight.Op[V, progress.Event]{
		Key:   name,
		Label: what,
		Run: func(ctx context.Context, send func(progress.Event)) (V, error) {
			return fn(ctx, send)
		},
		Joined: func(label string) {
			p.Msg("image", fmt.Sprintf("waiting for the %s of %s already under way", label, name))
		},
	}, p)
}

// Resolved is an image with its kernel.
type Resolved struct {
	Image  store.Image
	Kernel store.Kernel
}

// Get returns an image and its kernel, for use: the files of one an older
// banger registered in place are checked again (checkInPlace).
func (s *Service) Get(ctx context.Context, name string) (Resolved, error) {
	img, err := s.Store.GetImage(ctx, name)
	if err != nil {
		return Resolved{}, err
	}
	if img.KernelID == "" {
		return Resolved{}, fmt.Errorf("image %q has no kernel", name)
	}
	k, err := s.Store.GetKernel(ctx, img.KernelID)
	if err != nil {
		return Resolved{}, fmt.Errorf("kernel of image %q: %w", name, err)
	}
	r := Resolved{Image: img, Kernel: k}
	if err := checkInPlace(r); err != nil {
		return Resolved{}, err
	}
	return r, nil
}

// Ensure returns the named image, building it first when it is missing and
// banger has a recipe for it. Concurrent callers share one build.
func (s *Service) Ensure(ctx context.Context, name string, p progress.Func) (Resolved, error) {
	r, err := s.Get(ctx, name)
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return Resolved{}, err
	}
	if _, ok := recipes[name]; !ok {
		return Resolved{}, fmt.Errorf("image %q: %w; list images with `banger image list` or build one of %v with `banger image build`", name, ErrNoRecipe, Recipes())
	}
	p.Msg("image", fmt.Sprintf("image %s is not present; building it (this takes a few minutes the first time)", name))
	if _, err := s.Build(ctx, name, false, p); err != nil {
		return Resolved{}, err
	}
	return s.Get(ctx, name)
}

// Build builds the named golden image. With force, an existing image that no
// VM uses is replaced.
func (s *Service) Build(ctx context.Context, name string, force bool, p progress.Func) (store.Image, error) {
	if !imageref.ValidName(name) {
		return store.Image{}, fmt.Errorf("image name %q: use lowercase letters, digits, '.' and '-'", name)
	}
	suite, ok := recipes[name]
	if !ok {
		return store.Image{}, fmt.Errorf("image %q: %w to build; buildable images: %v", name, ErrNoRecipe, Recipes())
	}
	return shared(ctx, &s.images, name, "build", p, func(ctx context.Context, p progress.Func) (store.Image, error) {
		return s.build(ctx, name, suite, force, p)
	})
}

func (s *Service) build(ctx context.Context, name, suite string, force bool, p progress.Func) (store.Image, error) {
	if old, err := s.Store.GetImage(ctx, name); err == nil {
		if !force {
			return old, nil
		}
		if err := s.Delete(ctx, name); err != nil {
			return store.Image{}, fmt.Errorf("rebuild %s: %w", name, err)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Image{}, err
	}
	if err := hosttools.Require(nil, "debootstrap", "mkfs.ext4"); err != nil {
		return store.Image{}, fmt.Errorf("build image %s: %w", name, err)
	}
	if _, err := os.Stat(s.AgentBinary); err != nil {
		return store.Image{}, fmt.Errorf("build image %s: the guest agent binary is missing (%w); run `make build`", name, err)
	}
	for _, d := range []string{s.ImagesDir, s.KernelsDir, s.CacheDir, s.TmpDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return store.Image{}, fmt.Errorf("build image %s: %w", name, err)
		}
	}
	scratch, err := os.MkdirTemp(s.TmpDir, "build-"+name+"-")
	if err != nil {
		return store.Image{}, fmt.Errorf("build image %s: %w", name, err)
	}
	defer os.RemoveAll(scratch)
	out := filepath.Join(scratch, "out")
	spec := golden.Spec{
		Name:        name,
		Suite:       suite,
		Mirror:      s.Mirror,
		AgentBinary: s.AgentBinary,
		CacheDir:    s.CacheDir,
		WorkDir:     filepath.Join(scratch, "work"),
		OutDir:      out,
	}
	s.Log.InfoContext(ctx, "building image", "image", name, "suite", suite)
	res, err := s.Builder.Build(ctx, spec, func(step string, done, total int) {
		p.Send(progress.Event{Step: "build " + name + ": " + step, Done: int64(done), Total: int64(total)})
	})
	if err != nil {
		return store.Image{}, fmt.Errorf("build image %s: %w", name, err)
	}
	return s.installBuild(ctx, name, "debootstrap:"+suite, res)
}

// Delete removes an image that no VM uses, and its kernel when no other
// image refers to it. Files are removed only for managed images.
func (s *Service) Delete(ctx context.Context, name string) error {
	if err := access.RequireAdmin(ctx, "delete image "+name); err != nil { // images are shared
		return err
	}
	img, err := s.Store.GetImage(ctx, name)
	if err != nil {
		return err
	}
	vms, err := s.Store.VMsUsingImage(ctx, img.ID)
	if err != nil {
		return err
	}
	if len(vms) > 0 {
		return fmt.Errorf("image %s is used by VM %s: %w; delete the VM first", name, vms[0].Name, store.ErrInUse)
	}
	if err := s.Store.DeleteImage(ctx, img.ID); err != nil {
		return fmt.Errorf("delete image %s: %w", name, err)
	}
	if s.DeleteSnapshots != nil {
		if err := s.DeleteSnapshots(ctx, img.ID); err != nil {
			return fmt.Errorf("delete the snapshots of image %s: %w", name, err)
		}
	}
	if img.Managed {
		if err := os.RemoveAll(filepath.Dir(img.Rootfs)); err != nil {
			return fmt.Errorf("delete image files of %s: %w", name, err)
		}
	}
	if img.KernelID == "" {
		return nil
	}
	others, err := s.Store.ImagesUsingKernel(ctx, img.KernelID)
	if err != nil || len(others) > 0 {
		return err
	}
	k, err := s.Store.GetKernel(ctx, img.KernelID)
	if err != nil {
		return nil
	}
	if err := s.Store.DeleteKernel(ctx, k.ID); err != nil {
		return fmt.Errorf("delete kernel %s: %w", k.Name, err)
	}
	if k.Managed {
		return os.RemoveAll(filepath.Dir(k.Path))
	}
	return nil
}
