package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"banger/internal/image/catalog"
	"banger/internal/progress"
	"banger/internal/store"
)

// Promote copies a registered image (and its kernel, when unmanaged) into
// banger's storage and marks them managed. It is refused while a VM uses
// the image: its disk overlay refers to the original file.
func (s *Service) Promote(ctx context.Context, name string, p progress.Func) (store.Image, error) {
	return shared(ctx, &s.images, name, "promotion", p, func(ctx context.Context, p progress.Func) (store.Image, error) {
		return s.promote(ctx, name, p)
	})
}

func (s *Service) promote(ctx context.Context, name string, p progress.Func) (_ store.Image, err error) {
	img, k, err := s.promotable(ctx, name)
	if err != nil {
		return store.Image{}, err
	}
	r := Resolved{Image: img, Kernel: store.Kernel{Managed: true}}
	if k != nil {
		r.Kernel = *k
	}
	if err := checkInPlace(r); err != nil {
		return store.Image{}, fmt.Errorf("promote %s: %w", name, err)
	}
	dir, err := s.scratch("promote-" + name + "-")
	if err != nil {
		return store.Image{}, fmt.Errorf("promote %s: %w", name, err)
	}
	defer os.RemoveAll(dir)
	in := s.newInstallation()
	defer in.finish(&err)

	istage := filepath.Join(dir, "image")
	if err := os.Mkdir(istage, 0o755); err != nil {
		return store.Image{}, fmt.Errorf("promote %s: %w", name, err)
	}
	if _, err := copyRegular(ctx, name+" rootfs", img.Rootfs, filepath.Join(istage, catalog.RootfsFile), noFollow, p); err != nil {
		return store.Image{}, fmt.Errorf("promote %s: %w", name, err)
	}
	var pk *store.PromotedKernel
	if k != nil {
		if pk, err = s.promoteKernel(ctx, in, *k, filepath.Join(dir, "kernel"), p); err != nil {
			return store.Image{}, fmt.Errorf("promote kernel %s: %w", k.Name, err)
		}
	}
	idir := filepath.Join(s.ImagesDir, name)
	if err := in.place(istage, idir); err != nil {
		return store.Image{}, fmt.Errorf("promote %s: %w", name, err)
	}
	if err := s.Store.PromoteImage(ctx, img.ID, filepath.Join(idir, catalog.RootfsFile), pk); err != nil {
		return store.Image{}, fmt.Errorf("promote %s: %w", name, err)
	}
	s.Log.InfoContext(ctx, "image promoted", "image", name, "from", img.Source)
	return s.Store.GetImage(ctx, img.ID)
}

// promotable returns the image to promote and its kernel when that needs
// promoting too (it is unmanaged), or why the image cannot be promoted.
func (s *Service) promotable(ctx context.Context, name string) (store.Image, *store.Kernel, error) {
	img, err := s.Store.GetImage(ctx, name)
	if err != nil {
		return store.Image{}, nil, err
	}
	if img.Managed {
		return store.Image{}, nil, fmt.Errorf("image %s: %w: it is already in banger's storage", name, ErrInvalid)
	}
	vms, err := s.Store.VMsUsingImage(ctx, img.ID)
	if err != nil {
		return store.Image{}, nil, err
	}
	if len(vms) > 0 {
		return store.Image{}, nil, fmt.Errorf("image %s is used by VM %s, whose disk refers to %s: %w; delete the VM first",
			name, vms[0].Name, img.Rootfs, store.ErrInUse)
	}
	if img.KernelID == "" {
		return img, nil, nil
	}
	k, err := s.Store.GetKernel(ctx, img.KernelID)
	if err != nil {
		return store.Image{}, nil, fmt.Errorf("kernel of image %s: %w", name, err)
	}
	if k.Managed {
		return img, nil, nil
	}
	return img, &k, nil
}

// promoteKernel copies k's files into stage and places them in
// KernelsDir/<name>, returning the kernel's new paths.
func (s *Service) promoteKernel(ctx context.Context, in *installation, k store.Kernel, stage string, p progress.Func) (*store.PromotedKernel, error) {
	if err := os.Mkdir(stage, 0o755); err != nil {
		return nil, err
	}
	kfile, err := kernelFileName(k.Path)
	if err != nil {
		return nil, err
	}
	kdir := filepath.Join(s.KernelsDir, k.Name)
	pk := &store.PromotedKernel{ID: k.ID, Path: filepath.Join(kdir, kfile)}
	if _, err := copyRegular(ctx, "kernel "+k.Name, k.Path, filepath.Join(stage, kfile), noFollow, p); err != nil {
		return nil, err
	}
	if k.Initrd != "" {
		pk.Initrd = filepath.Join(kdir, catalog.InitrdFile)
		if _, err := copyRegular(ctx, "initrd "+k.Name, k.Initrd, filepath.Join(stage, catalog.InitrdFile), noFollow, p); err != nil {
			return nil, err
		}
	}
	if err := in.place(stage, kdir); err != nil {
		return nil, err
	}
	return pk, nil
}
