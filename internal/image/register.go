package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"banger/internal/access"
	"banger/internal/image/catalog"
	"banger/internal/image/imageref"
	"banger/internal/inflight"
	"banger/internal/progress"
	"banger/internal/store"
)

// RegisterRequest names files to copy into banger's storage as an image.
type RegisterRequest struct {
	Name   string
	Rootfs string // ext4 file
	// Kernel and Initrd are files for a new kernel named <Name>-kernel;
	// KernelRef names an existing kernel instead.
	Kernel    string
	Initrd    string
	KernelRef string
}

// Register copies files the user names into banger's storage as an image
// (and, with req.Kernel, a kernel named <Name>-kernel), and records them as
// managed, with the rootfs's path as the source. banger never reads the
// originals again nor deletes them: replacing one afterwards, by another
// file, a symlink or a device, has no effect on the image.
func (s *Service) Register(ctx context.Context, req RegisterRequest) (store.Image, error) {
	if err := checkRegister(req); err != nil {
		return store.Image{}, err
	}
	// The files are the caller's: a user who is not root may register
	// only files it may read itself.
	if err := access.CheckReadable(ctx, req.Rootfs, req.Kernel, req.Initrd); err != nil {
		return store.Image{}, fmt.Errorf("register %s: %w", req.Name, err)
	}
	var under string // the operation on the name this call found under way
	img, err := s.images.Do(ctx, inflight.Op[store.Image, progress.Event]{
		Key:   req.Name,
		Label: "registration",
		Run: func(ctx context.Context, _ func(progress.Event)) (store.Image, error) {
			return s.register(ctx, req)
		},
		Joined: func(label string) { under = label },
	}, nil)
	if under != "" {
		return store.Image{}, fmt.Errorf("image %s: %w: a %s of it was under way; choose another name", req.Name, store.ErrAlreadyExists, under)
	}
	return img, err
}

func (s *Service) register(ctx context.Context, req RegisterRequest) (img store.Image, err error) {
	if _, err := s.Store.GetImage(ctx, req.Name); err == nil {
		return store.Image{}, fmt.Errorf("image %s: %w; choose another name", req.Name, store.ErrAlreadyExists)
	}
	dir, err := s.scratch("register-" + req.Name + "-")
	if err != nil {
		return store.Image{}, fmt.Errorf("register %s: %w", req.Name, err)
	}
	defer os.RemoveAll(dir)
	in := s.newInstallation()
	defer in.finish(&err)
	k, err := s.registerKernel(ctx, in, req, filepath.Join(dir, "kernel"))
	if err != nil {
		return store.Image{}, fmt.Errorf("register %s: %w", req.Name, err)
	}
	istage := filepath.Join(dir, "image")
	rootfs := filepath.Join(istage, catalog.RootfsFile)
	size, err := s.copyChecked(ctx, "rootfs", req.Rootfs, rootfs, isExt4)
	if err != nil {
		return store.Image{}, fmt.Errorf("register %s: %w", req.Name, err)
	}
	initPath := detectInit(ctx, rootfs)
	idir := filepath.Join(s.ImagesDir, req.Name)
	if err := in.place(istage, idir); err != nil {
		return store.Image{}, fmt.Errorf("register %s: %w", req.Name, err)
	}
	img, err = in.image(ctx, store.Image{Name: req.Name, Rootfs: filepath.Join(idir, catalog.RootfsFile), KernelID: k.ID,
		SizeBytes: size, Managed: true, Source: filepath.Clean(req.Rootfs), Init: initPath})
	if err != nil {
		return store.Image{}, fmt.Errorf("register %s: %w", req.Name, err)
	}
	s.Log.InfoContext(ctx, "image registered", "image", req.Name, "source", img.Source, "bytes", size)
	return img, nil
}

// copyChecked copies the user's file src to dst, in a new directory, and
// checks the copy (check may be nil): what is checked is what banger uses,
// whatever src becomes.
func (s *Service) copyChecked(ctx context.Context, what, src, dst string, check func(*os.File) error) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, err
	}
	n, err := copyRegular(ctx, what, src, dst, followLinks, nil)
	if err != nil {
		return 0, err
	}
	if err := checkFile(what, dst, check); err != nil {
		return 0, fmt.Errorf("%w (copied from %s)", err, src)
	}
	return n, nil
}

// checkRegister checks what a registration can check without the store.
// The files are checked again once copied.
func checkRegister(req RegisterRequest) error {
	if err := checkName("image", req.Name); err != nil {
		return err
	}
	if (req.Kernel == "") == (req.KernelRef == "") {
		return fmt.Errorf("register %s: %w: give either --kernel FILE (with an optional --initrd) or --kernel-ref NAME", req.Name, ErrInvalid)
	}
	if req.Initrd != "" && req.Kernel == "" {
		return fmt.Errorf("register %s: %w: --initrd goes with --kernel FILE", req.Name, ErrInvalid)
	}
	if err := checkFile("rootfs", req.Rootfs, isExt4); err != nil {
		return fmt.Errorf("register %s: %w", req.Name, err)
	}
	if req.Kernel != "" {
		if err := checkFile("kernel", req.Kernel, isKernel); err != nil {
			return fmt.Errorf("register %s: %w", req.Name, err)
		}
	}
	if req.Initrd != "" {
		if err := checkFile("initrd", req.Initrd, nil); err != nil {
			return fmt.Errorf("register %s: %w", req.Name, err)
		}
	}
	return nil
}

// registerKernel returns the kernel named by req.KernelRef, or copies the
// files req.Kernel and req.Initrd into stage, places them in
// KernelsDir/<Name>-kernel and records them.
func (s *Service) registerKernel(ctx context.Context, in *installation, req RegisterRequest, stage string) (store.Kernel, error) {
	if req.KernelRef != "" {
		k, err := s.Store.GetKernel(ctx, req.KernelRef)
		if err != nil {
			return store.Kernel{}, fmt.Errorf("%w; see `banger kernel list`", err)
		}
		return k, nil
	}
	kname := req.Name + "-kernel"
	if !imageref.ValidName(kname) {
		return store.Kernel{}, fmt.Errorf("%w: the kernel would be named %s, longer than 63 characters; use a shorter name", ErrInvalid, kname)
	}
	if _, err := s.Store.GetKernel(ctx, kname); err == nil {
		return store.Kernel{}, fmt.Errorf("kernel %s: %w; choose another image name, or use --kernel-ref %s", kname, store.ErrAlreadyExists, kname)
	}
	kdir := filepath.Join(s.KernelsDir, kname)
	k, err := s.stageKernel(ctx, kname, req.Kernel, req.Initrd, stage, kdir)
	if err != nil {
		return store.Kernel{}, err
	}
	if err := in.place(stage, kdir); err != nil {
		return store.Kernel{}, err
	}
	return in.kernel(ctx, k)
}

// stageKernel copies the kernel file src, and initrd when given, into
// stage and checks the copies (what is later read is what was checked),
// names the kernel's file for its format, and returns the record of the
// kernel called name as it will be once stage is placed at kdir.
func (s *Service) stageKernel(ctx context.Context, name, src, initrd, stage, kdir string) (store.Kernel, error) {
	tmp := filepath.Join(stage, "kernel.copy")
	if _, err := s.copyChecked(ctx, "kernel", src, tmp, isKernel); err != nil {
		return store.Kernel{}, err
	}
	kfile, err := kernelFileName(tmp)
	if err != nil {
		return store.Kernel{}, err
	}
	if err := os.Rename(tmp, filepath.Join(stage, kfile)); err != nil {
		return store.Kernel{}, err
	}
	k := store.Kernel{Name: name, Path: filepath.Join(kdir, kfile), Version: kernelVersion(filepath.Join(stage, kfile)), Managed: true}
	if initrd != "" {
		if _, err := s.copyChecked(ctx, "initrd", initrd, filepath.Join(stage, catalog.InitrdFile), nil); err != nil {
			return store.Kernel{}, err
		}
		k.Initrd = filepath.Join(kdir, catalog.InitrdFile)
	}
	return k, nil
}
