package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"banger/internal/image/catalog"
	"banger/internal/image/imageref"
	"banger/internal/image/oci"
	"banger/internal/progress"
	"banger/internal/sparse"
	"banger/internal/store"
)

// ErrInvalid is wrapped by errors about a request the caller must change
// (a bad name, a missing file, conflicting options).
var ErrInvalid = errors.New("invalid request")

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

func (s *Service) ociCacheDir() string {
	if s.OCICacheDir != "" {
		return s.OCICacheDir
	}
	return filepath.Join(filepath.Dir(s.ImagesDir), "cache", "oci")
}

func (s *Service) bundleCacheDir() string {
	if s.BundleCacheDir != "" {
		return s.BundleCacheDir
	}
	return filepath.Join(filepath.Dir(s.ImagesDir), "cache", "bundles")
}

func (s *Service) bundleFetcher() *catalog.Fetcher {
	s.fetcherOnce.Do(func() { s.fetcher = &catalog.Fetcher{Client: s.HTTPClient} })
	return s.fetcher
}

// Catalog returns the embedded catalog merged with the remote one. When
// the remote catalog cannot be had, it returns the embedded one and the
// error as a warning (the catalog is still usable).
func (s *Service) Catalog(ctx context.Context) (catalog.Catalog, error) {
	c, err := catalog.Load(ctx, s.HTTPClient, catalog.Embedded(), s.CatalogURL)
	if err != nil && c.Version == 0 {
		return c, fmt.Errorf("image catalog: %w", err)
	}
	if err != nil {
		return c, &CatalogWarning{Err: err}
	}
	return c, nil
}

// CatalogWarning says the remote catalog was not used.
type CatalogWarning struct{ Err error }

func (w *CatalogWarning) Error() string {
	return fmt.Sprintf("%v; using the built-in catalog only (check catalog_url in the config)", w.Err)
}

func (w *CatalogWarning) Unwrap() error { return w.Err }

// catalogOrWarn loads the catalog, passing a remote failure on as a
// progress message.
func (s *Service) catalogOrWarn(ctx context.Context, p progress.Func) (catalog.Catalog, error) {
	c, err := s.Catalog(ctx)
	var w *CatalogWarning
	if errors.As(err, &w) {
		p.Msg("catalog", "warning: "+w.Error())
		s.Log.WarnContext(ctx, "remote catalog", "err", w.Err)
		return c, nil
	}
	return c, err
}

func checkName(kind, name string) error {
	if !imageref.ValidName(name) {
		return fmt.Errorf("%s name %q: %w: %s", kind, name, ErrInvalid, imageref.NameRule)
	}
	return nil
}

// Pull installs an image from the catalog or from a container image. A
// second pull of the same name while one is under way shares it. Pulling
// a name that exists returns that image when it came from the same
// source, and fails otherwise.
func (s *Service) Pull(ctx context.Context, req PullRequest, p progress.Func) (store.Image, error) {
	ref := strings.TrimSpace(req.Ref)
	if ref == "" {
		return store.Image{}, fmt.Errorf("image pull: %w: give a catalog name, a registry reference, an OCI layout directory or a docker-archive file", ErrInvalid)
	}
	if req.SizeBytes < 0 {
		return store.Image{}, fmt.Errorf("image pull: %w: negative size", ErrInvalid)
	}
	cat, err := s.catalogOrWarn(ctx, p)
	if err != nil {
		return store.Image{}, err
	}
	entry, fromCatalog := cat.FindImage(ref, arch)
	var src oci.Source
	var source string
	if fromCatalog {
		if req.SizeBytes != 0 {
			return store.Image{}, fmt.Errorf("image pull %s: %w: --size applies to container images only; catalog images come at their published size", ref, ErrInvalid)
		}
		source = "catalog:" + entry.Name
	} else {
		if imageref.WrittenAsPath(ref) {
			if _, err := os.Stat(ref); err != nil {
				return store.Image{}, fmt.Errorf("image pull: %w: %w; give an OCI layout directory or a docker-archive file (as the daemon sees it)", ErrInvalid, err)
			}
		}
		src, err = oci.ParseSource(ref)
		if err != nil {
			return store.Image{}, fmt.Errorf("image pull: %q is not in the image catalog (see `banger image list --available`) and %w", ref, err)
		}
		source = ref
		if src.Kind != oci.KindRegistry {
			source = src.Ref // absolute path
		}
	}
	name := req.Name
	if name == "" {
		name = ref
		if !fromCatalog {
			name = imageref.DeriveName(ref)
		}
	}
	if err := checkName("image", name); err != nil {
		return store.Image{}, err
	}
	if img, done, err := s.existing(ctx, name, source); done {
		return img, err
	}
	// The kernel is settled before the pull proper: it may need a build or
	// a download of its own, shared under its own key.
	if req.Kernel == "" && entry.KernelRef == "" && name == s.DefaultImage {
		return store.Image{}, fmt.Errorf("image pull %s as %s: %w: the default image's kernel is taken from itself; name a kernel with --kernel", ref, name, ErrInvalid)
	}
	k, err := s.kernelFor(ctx, req.Kernel, entry.KernelRef, p)
	if err != nil {
		return store.Image{}, fmt.Errorf("image pull %s: %w", ref, err)
	}
	return shared(ctx, &s.images, name, "pull", p, func(ctx context.Context, p progress.Func) (store.Image, error) {
		if img, done, err := s.existing(ctx, name, source); done {
			return img, err
		}
		s.cacheMu.RLock()
		defer s.cacheMu.RUnlock()
		if fromCatalog {
			return s.pullCatalogImage(ctx, name, entry, k, source, p)
		}
		return s.pullOCI(ctx, name, src, req.SizeBytes, k, source, p)
	})
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

func (s *Service) mkdirs() error {
	for _, d := range []string{s.ImagesDir, s.KernelsDir, s.TmpDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	return nil
}

// scratch makes a temp dir under TmpDir (same filesystem as the images and
// kernels dirs, so finished work is renamed into place).
func (s *Service) scratch(prefix string) (string, error) {
	if err := s.mkdirs(); err != nil {
		return "", err
	}
	return os.MkdirTemp(s.TmpDir, prefix)
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
		p.Msg("pull", fmt.Sprintf("%s has no systemd/sshd: its VMs boot %s, which installs them on first boot (needs guest network access)", name, res.Init))
	}
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

// detectInit reports oci.InitPath when the ext4 holds it (a bundled
// container image), so its VMs boot through it. debugfs only reads the
// file; without debugfs the default init is assumed.
func detectInit(ctx context.Context, rootfs string) string {
	if _, err := exec.LookPath("debugfs"); err != nil {
		return ""
	}
	out, err := exec.CommandContext(ctx, "debugfs", "-R", "stat "+oci.InitPath, rootfs).CombinedOutput()
	if err != nil || bytes.Contains(out, []byte("File not found")) || !bytes.Contains(out, []byte("Inode:")) {
		return ""
	}
	return oci.InitPath
}

// installImage renames dir (holding the rootfs under the base name of
// img.Rootfs) to ImagesDir/<name> and records img, undoing the move if the
// record fails.
func (s *Service) installImage(ctx context.Context, dir string, img store.Image) (store.Image, error) {
	idir := filepath.Join(s.ImagesDir, img.Name)
	if err := os.RemoveAll(idir); err != nil { // leftovers of an interrupted install, unknown to the store
		return store.Image{}, fmt.Errorf("install image %s: %w", img.Name, err)
	}
	if err := os.Rename(dir, idir); err != nil {
		return store.Image{}, fmt.Errorf("install image %s: %w", img.Name, err)
	}
	rec, err := s.Store.CreateImage(ctx, img)
	if err != nil {
		os.RemoveAll(idir)
		return store.Image{}, fmt.Errorf("record image %s: %w", img.Name, err)
	}
	s.Log.InfoContext(ctx, "image installed", "image", img.Name, "source", img.Source, "init", img.Init)
	return rec, nil
}

// RegisterRequest names files to use in place as an image.
type RegisterRequest struct {
	Name   string
	Rootfs string // ext4 file
	// Kernel and Initrd are files for a new unmanaged kernel named
	// <Name>-kernel; KernelRef names an existing kernel instead.
	Kernel    string
	Initrd    string
	KernelRef string
}

// Register records files the user owns as an unmanaged image: banger uses
// them in place and never deletes them.
func (s *Service) Register(ctx context.Context, req RegisterRequest) (img store.Image, err error) {
	if err := checkName("image", req.Name); err != nil {
		return store.Image{}, err
	}
	if (req.Kernel == "") == (req.KernelRef == "") {
		return store.Image{}, fmt.Errorf("register %s: %w: give either --kernel FILE (with an optional --initrd) or --kernel-ref NAME", req.Name, ErrInvalid)
	}
	if req.Initrd != "" && req.Kernel == "" {
		return store.Image{}, fmt.Errorf("register %s: %w: --initrd goes with --kernel FILE", req.Name, ErrInvalid)
	}
	if err := checkFile("rootfs", req.Rootfs, isExt4); err != nil {
		return store.Image{}, fmt.Errorf("register %s: %w", req.Name, err)
	}
	if _, err := s.Store.GetImage(ctx, req.Name); err == nil {
		return store.Image{}, fmt.Errorf("image %s: %w; choose another name", req.Name, store.ErrAlreadyExists)
	}
	var undo func()
	defer func() {
		if err != nil && undo != nil {
			undo()
		}
	}()
	var k store.Kernel
	if req.KernelRef != "" {
		if k, err = s.Store.GetKernel(ctx, req.KernelRef); err != nil {
			return store.Image{}, fmt.Errorf("register %s: %w; see `banger kernel list`", req.Name, err)
		}
	} else {
		if err := checkFile("kernel", req.Kernel, isKernel); err != nil {
			return store.Image{}, fmt.Errorf("register %s: %w", req.Name, err)
		}
		if req.Initrd != "" {
			if err := checkFile("initrd", req.Initrd, nil); err != nil {
				return store.Image{}, fmt.Errorf("register %s: %w", req.Name, err)
			}
		}
		kname := req.Name + "-kernel"
		if len(kname) > 63 {
			return store.Image{}, fmt.Errorf("register %s: %w: the kernel would be named %s, longer than 63 characters; use a shorter name", req.Name, ErrInvalid, kname)
		}
		k, err = s.Store.CreateKernel(ctx, store.Kernel{Name: kname, Path: filepath.Clean(req.Kernel),
			Initrd: cleanOrEmpty(req.Initrd), Version: kernelVersion(req.Kernel)})
		if err != nil {
			return store.Image{}, fmt.Errorf("register %s: %w", req.Name, err)
		}
		undo = func() { _ = s.Store.DeleteKernel(context.WithoutCancel(ctx), k.ID) }
	}
	fi, err := os.Stat(req.Rootfs)
	if err != nil {
		return store.Image{}, fmt.Errorf("register %s: %w", req.Name, err)
	}
	img, err = s.Store.CreateImage(ctx, store.Image{Name: req.Name, Rootfs: filepath.Clean(req.Rootfs), KernelID: k.ID,
		SizeBytes: fi.Size(), Source: filepath.Clean(req.Rootfs), Init: detectInit(ctx, req.Rootfs)})
	if err != nil {
		return store.Image{}, fmt.Errorf("register %s: %w", req.Name, err)
	}
	return img, nil
}

func cleanOrEmpty(p string) string {
	if p == "" {
		return ""
	}
	return filepath.Clean(p)
}

// checkFile requires an absolute path to a regular file, whose content
// passes check when check is not nil.
func checkFile(what, p string, check func(*os.File) error) error {
	if !filepath.IsAbs(p) {
		return fmt.Errorf("%s %q: %w: give an absolute path", what, p, ErrInvalid)
	}
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("%s: %w: %w", what, ErrInvalid, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("%s %s: %w", what, p, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s %s: %w: not a regular file", what, p, ErrInvalid)
	}
	if check != nil {
		if err := check(f); err != nil {
			return fmt.Errorf("%s %s: %w: %w", what, p, ErrInvalid, err)
		}
	}
	return nil
}

// isExt4 checks the ext2/3/4 superblock magic (0xEF53 at byte 1080).
func isExt4(f *os.File) error {
	b := make([]byte, 2)
	if _, err := f.ReadAt(b, 1080); err != nil || b[0] != 0x53 || b[1] != 0xEF {
		return errors.New("not an ext4 filesystem image (no ext superblock magic)")
	}
	return nil
}

// kernelKind tells a vmlinux (ELF) from a bzImage ("HdrS" at 0x202).
func kernelKind(f io.ReaderAt) string {
	b := make([]byte, 4)
	if _, err := f.ReadAt(b, 0); err == nil && string(b) == "\x7fELF" {
		return "vmlinux"
	}
	if _, err := f.ReadAt(b, 0x202); err == nil && string(b) == "HdrS" {
		return "bzimage"
	}
	return ""
}

func isKernel(f *os.File) error {
	if kernelKind(f) == "" {
		return errors.New("not a Linux kernel: want an uncompressed vmlinux (ELF) or a bzImage")
	}
	return nil
}

// kernelVersion reads the version string of a bzImage ("" otherwise).
func kernelVersion(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	if kernelKind(f) != "bzimage" {
		return ""
	}
	b := make([]byte, 2)
	if _, err := f.ReadAt(b, 0x20E); err != nil {
		return ""
	}
	off := int64(b[0]) | int64(b[1])<<8
	if off == 0 {
		return ""
	}
	buf := make([]byte, 256)
	n, _ := f.ReadAt(buf, off+0x200)
	s := string(buf[:n])
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	if v, _, ok := strings.Cut(s, " "); ok {
		s = v
	}
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return ""
		}
	}
	return s
}

// Promote copies a registered image (and its kernel, when unmanaged) into
// banger's storage and marks them managed. It is refused while a VM uses
// the image: its disk overlay refers to the original file.
func (s *Service) Promote(ctx context.Context, name string, p progress.Func) (store.Image, error) {
	return shared(ctx, &s.images, name, "promotion", p, func(ctx context.Context, p progress.Func) (store.Image, error) {
		return s.promote(ctx, name, p)
	})
}

func (s *Service) promote(ctx context.Context, name string, p progress.Func) (img store.Image, err error) {
	img, err = s.Store.GetImage(ctx, name)
	if err != nil {
		return store.Image{}, err
	}
	if img.Managed {
		return store.Image{}, fmt.Errorf("image %s: %w: it is already in banger's storage", name, ErrInvalid)
	}
	vms, err := s.Store.VMsUsingImage(ctx, img.ID)
	if err != nil {
		return store.Image{}, err
	}
	if len(vms) > 0 {
		return store.Image{}, fmt.Errorf("image %s is used by VM %s, whose disk refers to %s: %w; delete the VM first",
			name, vms[0].Name, img.Rootfs, store.ErrInUse)
	}
	var k *store.Kernel
	if img.KernelID != "" {
		kk, err := s.Store.GetKernel(ctx, img.KernelID)
		if err != nil {
			return store.Image{}, fmt.Errorf("kernel of image %s: %w", name, err)
		}
		if !kk.Managed {
			k = &kk
		}
	}
	dir, err := s.scratch("promote-" + name + "-")
	if err != nil {
		return store.Image{}, fmt.Errorf("promote %s: %w", name, err)
	}
	defer os.RemoveAll(dir)

	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	istage := filepath.Join(dir, "image")
	if err := os.Mkdir(istage, 0o755); err != nil {
		return store.Image{}, fmt.Errorf("promote %s: %w", name, err)
	}
	if err := copySparse(ctx, img.Rootfs, filepath.Join(istage, "rootfs.ext4"), "copy "+name+" rootfs", p); err != nil {
		return store.Image{}, fmt.Errorf("promote %s: %w", name, err)
	}
	var pk *store.PromotedKernel
	var kdir string
	if k != nil {
		kstage := filepath.Join(dir, "kernel")
		if err := os.Mkdir(kstage, 0o755); err != nil {
			return store.Image{}, fmt.Errorf("promote %s: %w", name, err)
		}
		kfile, err := kernelFileName(k.Path)
		if err != nil {
			return store.Image{}, fmt.Errorf("promote kernel %s: %w", k.Name, err)
		}
		kdir = filepath.Join(s.KernelsDir, k.Name)
		pk = &store.PromotedKernel{ID: k.ID, Path: filepath.Join(kdir, kfile)}
		if err := copySparse(ctx, k.Path, filepath.Join(kstage, kfile), "copy kernel "+k.Name, p); err != nil {
			return store.Image{}, fmt.Errorf("promote kernel %s: %w", k.Name, err)
		}
		if k.Initrd != "" {
			pk.Initrd = filepath.Join(kdir, catalog.InitrdFile)
			if err := copySparse(ctx, k.Initrd, filepath.Join(kstage, catalog.InitrdFile), "copy initrd "+k.Name, p); err != nil {
				return store.Image{}, fmt.Errorf("promote kernel %s: %w", k.Name, err)
			}
		}
		if err := os.RemoveAll(kdir); err != nil {
			return store.Image{}, fmt.Errorf("promote kernel %s: %w", k.Name, err)
		}
		if err := os.Rename(kstage, kdir); err != nil {
			return store.Image{}, fmt.Errorf("promote kernel %s: %w", k.Name, err)
		}
		undo = append(undo, func() { os.RemoveAll(kdir) })
	}
	idir := filepath.Join(s.ImagesDir, name)
	if err := os.RemoveAll(idir); err != nil {
		return store.Image{}, fmt.Errorf("promote %s: %w", name, err)
	}
	if err := os.Rename(istage, idir); err != nil {
		return store.Image{}, fmt.Errorf("promote %s: %w", name, err)
	}
	undo = append(undo, func() { os.RemoveAll(idir) })
	rootfs := filepath.Join(idir, "rootfs.ext4")
	if err := s.Store.PromoteImage(ctx, img.ID, rootfs, pk); err != nil {
		return store.Image{}, fmt.Errorf("promote %s: %w", name, err)
	}
	s.Log.InfoContext(ctx, "image promoted", "image", name, "from", img.Source)
	return s.Store.GetImage(ctx, img.ID)
}

// kernelFileName names a kernel file by its format: vmlinux or vmlinuz.
func kernelFileName(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	switch kernelKind(f) {
	case "vmlinux":
		return catalog.VmlinuxFile, nil
	case "bzimage":
		return catalog.VmlinuzFile, nil
	}
	return "", fmt.Errorf("%s: %w: not a vmlinux or bzImage", p, ErrInvalid)
}

// copySparse copies the regular file src to the new file dst, leaving
// holes for all-zero blocks, and reports progress in bytes.
func copySparse(ctx context.Context, src, dst, step string, p progress.Func) error {
	var tick sparse.Progress
	if p != nil {
		tick = sparse.Progress(throttle(step, p))
	}
	err := sparse.CopyFile(ctx, src, dst, tick)
	if errors.Is(err, sparse.ErrNotRegular) {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return err
}

// CacheFile is one file of a download cache.
type CacheFile struct {
	Path  string
	Bytes int64 // allocated on disk
}

// CacheReport lists what PruneCache removed (or would remove).
type CacheReport struct {
	Files []CacheFile
	Bytes int64
}

// PruneCache removes the downloaded OCI layers and catalog bundles, and
// partial downloads. Installed images and kernels never refer to them (they
// are unpacked into their own files), so everything in the caches is
// unreferenced once no pull is under way; a prune is refused while one is.
// With dryRun it only reports.
func (s *Service) PruneCache(ctx context.Context, dryRun bool) (CacheReport, error) {
	if !s.cacheMu.TryLock() {
		return CacheReport{}, fmt.Errorf("image cache: %w: a pull is using the cache; try again when it has finished", store.ErrInUse)
	}
	defer s.cacheMu.Unlock()
	var rep CacheReport
	for _, root := range []string{s.ociCacheDir(), s.bundleCacheDir()} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			rep.Files = append(rep.Files, CacheFile{Path: p, Bytes: diskBytes(fi)})
			return nil
		})
		if err != nil {
			return rep, fmt.Errorf("image cache %s: %w", root, err)
		}
	}
	sort.Slice(rep.Files, func(i, j int) bool { return rep.Files[i].Path < rep.Files[j].Path })
	for _, f := range rep.Files {
		rep.Bytes += f.Bytes
	}
	if dryRun {
		return rep, nil
	}
	for _, f := range rep.Files {
		if err := os.Remove(f.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return rep, fmt.Errorf("image cache: %w", err)
		}
	}
	s.Log.InfoContext(ctx, "image cache pruned", "files", len(rep.Files), "bytes", rep.Bytes)
	return rep, nil
}

// BundleResult describes a bundle written by BundleImage or BundleKernel.
type BundleResult struct {
	Entry     catalog.Entry
	File      string // the .tar.zst
	EntryFile string // <File>.json: the catalog.json stanza
}

// BundleImage writes a catalog bundle of an image into outDir, with its
// catalog entry as JSON next to it.
func (s *Service) BundleImage(ctx context.Context, name, outDir string) (BundleResult, error) {
	r, err := s.Get(ctx, name)
	if err != nil {
		return BundleResult{}, err
	}
	spec := catalog.BundleSpec{Kind: catalog.KindImage, Name: r.Image.Name, KernelRef: r.Kernel.Name,
		Description: "from " + r.Image.Source, Files: map[string]string{catalog.RootfsFile: r.Image.Rootfs}}
	if src, ok := strings.CutPrefix(r.Image.Source, "debootstrap:"); ok {
		spec.Distro = "debian"
		spec.Description = "Debian " + src + " with systemd and sshd"
	}
	return s.writeBundle(ctx, spec, outDir, func(e catalog.Entry) any { return e.Image() })
}

// BundleKernel writes a catalog bundle of a kernel into outDir.
func (s *Service) BundleKernel(ctx context.Context, name, outDir string) (BundleResult, error) {
	k, err := s.Store.GetKernel(ctx, name)
	if err != nil {
		return BundleResult{}, err
	}
	kfile, err := kernelFileName(k.Path)
	if err != nil {
		return BundleResult{}, fmt.Errorf("bundle kernel %s: %w", name, err)
	}
	spec := catalog.BundleSpec{Kind: catalog.KindKernel, Name: k.Name, Version: k.Version,
		Files: map[string]string{kfile: k.Path}}
	if k.Initrd != "" {
		spec.Files[catalog.InitrdFile] = k.Initrd
	}
	return s.writeBundle(ctx, spec, outDir, func(e catalog.Entry) any { return e.Kernel() })
}

func (s *Service) writeBundle(ctx context.Context, spec catalog.BundleSpec, outDir string, stanza func(catalog.Entry) any) (BundleResult, error) {
	if !filepath.IsAbs(outDir) {
		return BundleResult{}, fmt.Errorf("bundle %s: output directory %q: %w: give an absolute path", spec.Name, outDir, ErrInvalid)
	}
	s.Log.InfoContext(ctx, "writing bundle", "kind", spec.Kind, "name", spec.Name, "out", outDir)
	e, err := catalog.WriteBundle(spec, outDir)
	if err != nil {
		return BundleResult{}, fmt.Errorf("bundle %s %s: %w", spec.Kind, spec.Name, err)
	}
	data, err := json.MarshalIndent(stanza(e), "", "  ")
	if err != nil {
		return BundleResult{}, err
	}
	entryFile := e.File + ".json"
	tmp := entryFile + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return BundleResult{}, fmt.Errorf("bundle %s: %w", spec.Name, err)
	}
	if err := os.Rename(tmp, entryFile); err != nil {
		os.Remove(tmp)
		return BundleResult{}, fmt.Errorf("bundle %s: %w", spec.Name, err)
	}
	return BundleResult{Entry: e, File: e.File, EntryFile: entryFile}, nil
}
