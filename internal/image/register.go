package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"banger/internal/access"
	"banger/internal/image/imageref"
	"banger/internal/store"
)

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
	if err := checkRegister(req); err != nil {
		return store.Image{}, err
	}
	// The files are the caller's: a user who is not root may register
	// only files it may read itself.
	if err := access.CheckReadable(ctx, req.Rootfs, req.Kernel, req.Initrd); err != nil {
		return store.Image{}, fmt.Errorf("register %s: %w", req.Name, err)
	}
	if _, err := s.Store.GetImage(ctx, req.Name); err == nil {
		return store.Image{}, fmt.Errorf("image %s: %w; choose another name", req.Name, store.ErrAlreadyExists)
	}
	in := s.newInstallation()
	defer in.finish(&err)
	k, err := s.registerKernel(ctx, in, req)
	if err != nil {
		return store.Image{}, fmt.Errorf("register %s: %w", req.Name, err)
	}
	fi, err := os.Stat(req.Rootfs)
	if err != nil {
		return store.Image{}, fmt.Errorf("register %s: %w", req.Name, err)
	}
	img, err = in.image(ctx, store.Image{Name: req.Name, Rootfs: filepath.Clean(req.Rootfs), KernelID: k.ID,
		SizeBytes: fi.Size(), Source: filepath.Clean(req.Rootfs), Init: detectInit(ctx, req.Rootfs)})
	if err != nil {
		return store.Image{}, fmt.Errorf("register %s: %w", req.Name, err)
	}
	return img, nil
}

// checkRegister checks what a registration can check without the store.
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
	return nil
}

// registerKernel returns the kernel named by req.KernelRef, or records the
// files req.Kernel and req.Initrd as the unmanaged kernel <Name>-kernel.
func (s *Service) registerKernel(ctx context.Context, in *installation, req RegisterRequest) (store.Kernel, error) {
	if req.KernelRef != "" {
		k, err := s.Store.GetKernel(ctx, req.KernelRef)
		if err != nil {
			return store.Kernel{}, fmt.Errorf("%w; see `banger kernel list`", err)
		}
		return k, nil
	}
	if err := checkFile("kernel", req.Kernel, isKernel); err != nil {
		return store.Kernel{}, err
	}
	if req.Initrd != "" {
		if err := checkFile("initrd", req.Initrd, nil); err != nil {
			return store.Kernel{}, err
		}
	}
	kname := req.Name + "-kernel"
	if !imageref.ValidName(kname) {
		return store.Kernel{}, fmt.Errorf("%w: the kernel would be named %s, longer than 63 characters; use a shorter name", ErrInvalid, kname)
	}
	return in.kernel(ctx, store.Kernel{Name: kname, Path: filepath.Clean(req.Kernel),
		Initrd: cleanOrEmpty(req.Initrd), Version: kernelVersion(req.Kernel)})
}

func cleanOrEmpty(p string) string {
	if p == "" {
		return ""
	}
	return filepath.Clean(p)
}
