package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/access"
	"banger/internal/crashpoint"
	"banger/internal/image/catalog"
	"banger/internal/image/imageref"
	"banger/internal/image/oci"
	"banger/internal/progress"
	"banger/internal/store"
)

// arch is the only architecture banger runs.
const arch = "amd64"

// PullRequest asks for an image from the catalog or a container image.
type PullRequest struct {
	// Ref is a catalog image name, a registry reference, an OCI layout
	// directory or a docker-archive tarball (checked in that order).
	Ref string
	// Name of the new image; empty derives one from Ref.
	Name string
	// SizeBytes overrides the rootfs size of a container image.
	SizeBytes int64
	// Kernel names the kernel to boot the image with; empty means the
	// catalog entry's kernel_ref, else the default image's kernel.
	Kernel string
}

// Pull installs an image from the catalog or from a container image. A
// second pull of the same name while one is under way shares it. Pulling
// a name that exists returns that image when it came from the same
// source, and fails otherwise.
func (s *Service) Pull(ctx context.Context, req PullRequest, p progress.Func) (store.Image, error) {
	pl, err := s.planPull(ctx, req, p)
	if err != nil {
		return store.Image{}, err
	}
	if img, done, err := s.existing(ctx, pl.name, pl.source); done {
		return img, err
	}
	// The kernel is settled before the pull proper: it may need a build or
	// a download of its own, shared under its own key.
	if req.Kernel == "" && pl.entry.KernelRef == "" && pl.name == s.DefaultImage {
		return store.Image{}, fmt.Errorf("image pull %s as %s: %w: the default image's kernel is taken from itself; name a kernel with --kernel", pl.ref, pl.name, ErrInvalid)
	}
	k, err := s.kernelFor(ctx, req.Kernel, pl.entry.KernelRef, p)
	if err != nil {
		return store.Image{}, fmt.Errorf("image pull %s: %w", pl.ref, err)
	}
	return shared(ctx, &s.images, pl.name, "pull", p, func(ctx context.Context, p progress.Func) (store.Image, error) {
		if img, done, err := s.existing(ctx, pl.name, pl.source); done {
			return img, err
		}
		s.cacheMu.RLock()
		defer s.cacheMu.RUnlock()
		if pl.fromCatalog {
			return s.pullCatalogImage(ctx, pl.name, pl.entry, k, pl.source, p)
		}
		return s.pullOCI(ctx, pl.name, pl.src, req.SizeBytes, k, pl.source, p)
	})
}

// pullPlan is what a pull request resolves to.
type pullPlan struct {
	ref         string // the reference, trimmed
	name        string // of the new image
	source      string // recorded as the image's source
	fromCatalog bool
	entry       catalog.Image // when fromCatalog
	src         oci.Source    // when not
}

// planPull checks req and decides where its image comes from: the catalog
// first, else a container image (imageref tells what the reference names).
func (s *Service) planPull(ctx context.Context, req PullRequest, p progress.Func) (pullPlan, error) {
	pl := pullPlan{ref: strings.TrimSpace(req.Ref)}
	if pl.ref == "" {
		return pl, fmt.Errorf("image pull: %w: give a catalog name, a registry reference, an OCI layout directory or a docker-archive file", ErrInvalid)
	}
	if req.SizeBytes < 0 {
		return pl, fmt.Errorf("image pull: %w: negative size", ErrInvalid)
	}
	cat, err := s.catalogOrWarn(ctx, p)
	if err != nil {
		return pl, err
	}
	pl.entry, pl.fromCatalog = cat.FindImage(pl.ref, arch)
	pl.name = req.Name
	if pl.fromCatalog {
		if req.SizeBytes != 0 {
			return pl, fmt.Errorf("image pull %s: %w: --size applies to container images only; catalog images come at their published size", pl.ref, ErrInvalid)
		}
		pl.source = "catalog:" + pl.entry.Name
		if pl.name == "" {
			pl.name = pl.ref
		}
		return pl, checkName("image", pl.name)
	}
	if imageref.WrittenAsPath(pl.ref) {
		if _, err := os.Stat(pl.ref); err != nil {
			return pl, fmt.Errorf("image pull: %w: %w; give an OCI layout directory or a docker-archive file (as the daemon sees it)", ErrInvalid, err)
		}
		if err := access.CheckReadable(ctx, pl.ref); err != nil {
			return pl, fmt.Errorf("image pull: %w", err)
		}
	}
	if pl.src, err = oci.ParseSource(pl.ref); err != nil {
		return pl, fmt.Errorf("image pull: %q is not in the image catalog (see `banger image list --available`) and %w", pl.ref, err)
	}
	pl.source = pl.ref
	if pl.src.Kind != oci.KindRegistry {
		pl.source = pl.src.Ref // absolute path
	}
	if pl.name == "" {
		pl.name = imageref.DeriveName(pl.ref)
	}
	return pl, checkName("image", pl.name)
}

// existing reports whether name is taken: by an image from source (returned
// as is) or by another one (an error).
func (s *Service) existing(ctx context.Context, name, source string) (store.Image, bool, error) {
	img, err := s.Store.GetImage(ctx, name)
	switch {
	case err == nil && img.Source == source:
		return img, true, nil
	case err == nil:
		return store.Image{}, true, fmt.Errorf("image %s (from %s): %w; pick another name with --name or delete it first with `banger image delete %s`",
			name, img.Source, store.ErrAlreadyExists, name)
	case errors.Is(err, store.ErrNotFound):
		return store.Image{}, false, nil
	}
	return store.Image{}, true, err
}

// kernelFor picks the kernel of a pulled image: the one named, else the
// catalog's kernel_ref (pulled when missing), else the default image's.
func (s *Service) kernelFor(ctx context.Context, named, ref string, p progress.Func) (store.Kernel, error) {
	if named == "" {
		named = ref
	}
	if named != "" {
		k, err := s.Store.GetKernel(ctx, named)
		if err == nil {
			return k, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return store.Kernel{}, err
		}
		return s.PullKernel(ctx, named, p)
	}
	if s.DefaultImage == "" {
		return store.Kernel{}, fmt.Errorf("no kernel: %w: name one with --kernel (see `banger kernel list`)", ErrInvalid)
	}
	r, err := s.Ensure(ctx, s.DefaultImage, p)
	if err != nil {
		return store.Kernel{}, fmt.Errorf("kernel of the default image %s: %w (or name a kernel with --kernel)", s.DefaultImage, err)
	}
	return r.Kernel, nil
}

func (s *Service) pullOCI(ctx context.Context, name string, src oci.Source, size int64, k store.Kernel, source string, p progress.Func) (store.Image, error) {
	if _, err := os.Stat(s.AgentBinary); err != nil {
		return store.Image{}, fmt.Errorf("import %s: the guest agent binary is missing (%w); run `make build`", src, err)
	}
	dir, err := s.scratch("pull-" + name + "-")
	if err != nil {
		return store.Image{}, fmt.Errorf("import %s: %w", src, err)
	}
	defer os.RemoveAll(dir)
	s.Log.InfoContext(ctx, "importing container image", "image", name, "source", src.String())
	res, err := oci.Import(ctx, src, oci.Options{
		WorkDir:     dir,
		CacheDir:    s.ociCacheDir(),
		AgentBinary: s.AgentBinary,
		SizeBytes:   size,
		// Like docker, a registry on a loopback address may speak plain
		// HTTP (a local `registry:2`); every other registry needs HTTPS.
		PlainHTTP: true,
		Progress: func(step string, done, total int64) {
			p.Send(progress.Event{Step: "pull " + name + ": " + step, Done: done, Total: total})
		},
	})
	if err != nil {
		return store.Image{}, err
	}
	for _, n := range res.Notes {
		p.Msg("pull", "note: "+n)
	}
	if res.Init != "" {
		p.Msg("pull", fmt.Sprintf("%s does not boot systemd: its VMs boot %s as PID 1", name, res.Init))
	}
	s.Crash.At(crashpoint.ImageStaged)
	return s.installImage(ctx, filepath.Dir(res.Rootfs), store.Image{
		Name: name, KernelID: k.ID, SizeBytes: res.SizeBytes, Managed: true, Source: source, Init: res.Init,
		Rootfs: filepath.Join(s.ImagesDir, name, oci.RootfsFile),
	})
}

func (s *Service) pullCatalogImage(ctx context.Context, name string, e catalog.Image, k store.Kernel, source string, p progress.Func) (store.Image, error) {
	dir, err := s.scratch("pull-" + name + "-")
	if err != nil {
		return store.Image{}, fmt.Errorf("pull %s: %w", e.Name, err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "out")
	m, err := s.fetchUnpack(ctx, e.Entry(), out, p)
	if err != nil {
		return store.Image{}, err
	}
	if m.Kind != catalog.KindImage {
		return store.Image{}, fmt.Errorf("pull %s: %w: the bundle holds a %s, not an image", e.Name, catalog.ErrBadBundle, m.Kind)
	}
	rootfs := filepath.Join(out, catalog.RootfsFile)
	fi, err := os.Stat(rootfs)
	if err != nil {
		return store.Image{}, fmt.Errorf("pull %s: %w", e.Name, err)
	}
	return s.installImage(ctx, out, store.Image{
		Name: name, KernelID: k.ID, SizeBytes: fi.Size(), Managed: true, Source: source,
		Init:   detectInit(ctx, rootfs),
		Rootfs: filepath.Join(s.ImagesDir, name, catalog.RootfsFile),
	})
}

// fetchUnpack downloads a bundle (reporting progress) and unpacks it to out.
func (s *Service) fetchUnpack(ctx context.Context, e catalog.Entry, out string, p progress.Func) (catalog.Manifest, error) {
	s.Log.InfoContext(ctx, "downloading bundle", "kind", e.Kind, "name", e.Name, "url", e.BundleURL)
	step := fmt.Sprintf("download %s %s", e.Kind, e.Name)
	bundle, err := s.bundleFetcher().Fetch(ctx, e, s.bundleCacheDir(), throttle(step, p))
	if err != nil {
		return catalog.Manifest{}, fmt.Errorf("download %s %s: %w", e.Kind, e.Name, err)
	}
	p.Msg("pull", fmt.Sprintf("unpacking %s %s", e.Kind, e.Name))
	m, err := catalog.Unpack(bundle, out)
	if err != nil {
		return catalog.Manifest{}, fmt.Errorf("%w; `banger image cache prune` removes the cached bundle", err)
	}
	return m, nil
}

// throttle turns byte counts into progress events, at most one per percent.
func throttle(step string, p progress.Func) catalog.ProgressFunc {
	last := int64(-1)
	return func(done, total int64) {
		if total <= 0 {
			if done-last >= 8<<20 || last < 0 {
				last = done
				p.Send(progress.Event{Step: step, Message: fmt.Sprintf("%s: %d MiB", step, done>>20)})
			}
			return
		}
		pct := done * 100 / total
		if pct == last && done < total {
			return
		}
		last = pct
		p.Send(progress.Event{Step: step, Done: done, Total: total})
	}
}
