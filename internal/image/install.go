package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"banger/internal/crashpoint"
	"banger/internal/image/golden"
	"banger/internal/store"
)

// installation puts staged directories into place and records rows in the
// store. Every step done is undone, in reverse order, when a later one
// fails: builds, pulls, imports, registrations and promotions all install
// through it, so a failure leaves neither files nor rows behind.
type installation struct {
	store *store.Store
	undo  []func()
}

func (s *Service) newInstallation() *installation { return &installation{store: s.Store} }

// finish undoes the steps done when *err is not nil; defer it.
func (in *installation) finish(err *error) {
	if *err == nil {
		return
	}
	for i := len(in.undo) - 1; i >= 0; i-- {
		in.undo[i]()
	}
	in.undo = nil
}

// place renames the staged directory stage to dst, first removing what an
// interrupted install may have left at dst (unknown to the store).
func (in *installation) place(stage, dst string) error {
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.Rename(stage, dst); err != nil {
		return err
	}
	in.undo = append(in.undo, func() { os.RemoveAll(dst) })
	return nil
}

// kernel records k.
func (in *installation) kernel(ctx context.Context, k store.Kernel) (store.Kernel, error) {
	rec, err := in.store.CreateKernel(ctx, k)
	if err != nil {
		return store.Kernel{}, err
	}
	in.undo = append(in.undo, func() { _ = in.store.DeleteKernel(context.WithoutCancel(ctx), rec.ID) })
	return rec, nil
}

// image records img.
func (in *installation) image(ctx context.Context, img store.Image) (store.Image, error) {
	rec, err := in.store.CreateImage(ctx, img)
	if err != nil {
		return store.Image{}, err
	}
	in.undo = append(in.undo, func() { _ = in.store.DeleteImage(context.WithoutCancel(ctx), rec.ID) })
	return rec, nil
}

// kernelAndImage records k and img (booting k) in one transaction.
func (in *installation) kernelAndImage(ctx context.Context, k store.Kernel, img store.Image) (store.Image, error) {
	krec, rec, err := in.store.CreateKernelAndImage(ctx, k, img)
	if err != nil {
		return store.Image{}, err
	}
	in.undo = append(in.undo, func() {
		bg := context.WithoutCancel(ctx)
		_ = in.store.DeleteImage(bg, rec.ID)
		_ = in.store.DeleteKernel(bg, krec.ID)
	})
	return rec, nil
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

// installImage renames dir (holding the rootfs under the base name of
// img.Rootfs) to ImagesDir/<name> and records img.
func (s *Service) installImage(ctx context.Context, dir string, img store.Image) (rec store.Image, err error) {
	in := s.newInstallation()
	defer in.finish(&err)
	if err := in.place(dir, filepath.Join(s.ImagesDir, img.Name)); err != nil {
		return store.Image{}, fmt.Errorf("install image %s: %w", img.Name, err)
	}
	s.Crash.At(crashpoint.ImagePlaced)
	if rec, err = in.image(ctx, img); err != nil {
		return store.Image{}, fmt.Errorf("record image %s: %w", img.Name, err)
	}
	s.Log.InfoContext(ctx, "image installed", "image", img.Name, "source", img.Source, "init", img.Init)
	return rec, nil
}

// installKernel renames dir to KernelsDir/<name> and records k.
func (s *Service) installKernel(ctx context.Context, dir string, k store.Kernel) (rec store.Kernel, err error) {
	in := s.newInstallation()
	defer in.finish(&err)
	if err := in.place(dir, filepath.Join(s.KernelsDir, k.Name)); err != nil {
		return store.Kernel{}, fmt.Errorf("install kernel %s: %w", k.Name, err)
	}
	if rec, err = in.kernel(ctx, k); err != nil {
		return store.Kernel{}, fmt.Errorf("record kernel %s: %w", k.Name, err)
	}
	s.Log.InfoContext(ctx, "kernel installed", "kernel", k.Name, "version", k.Version)
	return rec, nil
}

// installBuild moves a finished build into place and records it: kernel
// first, then the image.
func (s *Service) installBuild(ctx context.Context, name, source string, res golden.Result) (img store.Image, err error) {
	in := s.newInstallation()
	defer in.finish(&err)
	kdir := filepath.Join(s.KernelsDir, name)
	idir := filepath.Join(s.ImagesDir, name)
	kstage := filepath.Join(filepath.Dir(res.Kernel), "kernel")
	if err := os.Mkdir(kstage, 0o755); err != nil {
		return img, fmt.Errorf("install %s: %w", name, err)
	}
	for _, f := range []string{res.Kernel, res.Initrd} {
		if f == "" {
			continue
		}
		if err := os.Rename(f, filepath.Join(kstage, filepath.Base(f))); err != nil {
			return img, fmt.Errorf("install %s: %w", name, err)
		}
	}
	if err := in.place(kstage, kdir); err != nil {
		return img, fmt.Errorf("install kernel %s: %w", name, err)
	}
	if err := in.place(filepath.Dir(res.Rootfs), idir); err != nil {
		return img, fmt.Errorf("install image %s: %w", name, err)
	}
	s.Crash.At(crashpoint.BuildPlaced)
	k := store.Kernel{Name: name, Path: filepath.Join(kdir, filepath.Base(res.Kernel)), Version: res.KernelVersion, Managed: true}
	if res.Initrd != "" {
		k.Initrd = filepath.Join(kdir, filepath.Base(res.Initrd))
	}
	img, err = in.kernelAndImage(ctx, k, store.Image{
		Name: name, Rootfs: filepath.Join(idir, filepath.Base(res.Rootfs)),
		SizeBytes: res.RootfsBytes, Managed: true, Source: source, Init: res.Init,
	})
	if err != nil {
		return img, fmt.Errorf("record image %s: %w", name, err)
	}
	s.Log.InfoContext(ctx, "image installed", "image", name, "kernel", res.KernelVersion)
	return img, nil
}
