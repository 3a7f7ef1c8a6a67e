package image

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/access"
	"banger/internal/image/catalog"
	"banger/internal/progress"
	"banger/internal/store"
)

// PullKernel installs a kernel from the catalog. A kernel already present
// under that name is returned as is; concurrent pulls share one download.
func (s *Service) PullKernel(ctx context.Context, name string, p progress.Func) (store.Kernel, error) {
	if err := checkName("kernel", name); err != nil {
		return store.Kernel{}, err
	}
	if k, err := s.Store.GetKernel(ctx, name); err == nil {
		return k, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Kernel{}, err
	}
	cat, err := s.catalogOrWarn(ctx, p)
	if err != nil {
		return store.Kernel{}, err
	}
	e, ok := cat.FindKernel(name)
	if !ok {
		return store.Kernel{}, fmt.Errorf("kernel %q is neither installed nor in the catalog: %w; see `banger kernel list --available`, or add one with `banger kernel import`",
			name, store.ErrNotFound)
	}
	return shared(ctx, &s.kernels, name, "pull", p, func(ctx context.Context, p progress.Func) (store.Kernel, error) {
		if k, err := s.Store.GetKernel(ctx, name); err == nil {
			return k, nil
		}
		s.cacheMu.RLock()
		defer s.cacheMu.RUnlock()
		return s.pullKernel(ctx, e, p)
	})
}

func (s *Service) pullKernel(ctx context.Context, e catalog.Kernel, p progress.Func) (store.Kernel, error) {
	dir, err := s.scratch("kernel-" + e.Name + "-")
	if err != nil {
		return store.Kernel{}, fmt.Errorf("pull kernel %s: %w", e.Name, err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "out")
	m, err := s.fetchUnpack(ctx, e.Entry(), out, p)
	if err != nil {
		return store.Kernel{}, err
	}
	if m.Kind != catalog.KindKernel {
		return store.Kernel{}, fmt.Errorf("pull kernel %s: %w: the bundle holds a %s, not a kernel", e.Name, catalog.ErrBadBundle, m.Kind)
	}
	kdir := filepath.Join(s.KernelsDir, e.Name)
	k := store.Kernel{Name: e.Name, Version: e.Version, Managed: true}
	for _, f := range []string{catalog.VmlinuzFile, catalog.VmlinuxFile} {
		if _, err := os.Stat(filepath.Join(out, f)); err == nil {
			k.Path = filepath.Join(kdir, f)
		}
	}
	if _, err := os.Stat(filepath.Join(out, catalog.InitrdFile)); err == nil {
		k.Initrd = filepath.Join(kdir, catalog.InitrdFile)
	}
	if k.Version == "" {
		k.Version = m.Version
	}
	return s.installKernel(ctx, out, k)
}

// kernelFiles are the names ImportKernel accepts for the kernel image.
var kernelFiles = []string{"vmlinuz", "vmlinux", "bzImage"}

// ImportKernel copies a kernel from a directory holding one of vmlinuz,
// vmlinux or bzImage, an optional initrd.img and an optional modules/
// directory into KernelsDir/<name>.
func (s *Service) ImportKernel(ctx context.Context, name, from string) (store.Kernel, error) {
	if err := checkName("kernel", name); err != nil {
		return store.Kernel{}, err
	}
	if err := checkImportDir(ctx, from); err != nil {
		return store.Kernel{}, fmt.Errorf("kernel import %s: %w", name, err)
	}
	var found []string
	for _, f := range kernelFiles {
		if _, err := os.Lstat(filepath.Join(from, f)); err == nil {
			found = append(found, f)
		}
	}
	if len(found) != 1 {
		return store.Kernel{}, fmt.Errorf("kernel import %s: %w: %s must hold exactly one of %s (found %d)",
			name, ErrInvalid, from, strings.Join(kernelFiles, ", "), len(found))
	}
	src := filepath.Join(from, found[0])
	if err := checkFile("kernel", src, isKernel); err != nil {
		return store.Kernel{}, fmt.Errorf("kernel import %s: %w", name, err)
	}
	initrd := filepath.Join(from, catalog.InitrdFile)
	hasInitrd := false
	if _, err := os.Lstat(initrd); err == nil {
		if err := checkFile("initrd", initrd, nil); err != nil {
			return store.Kernel{}, fmt.Errorf("kernel import %s: %w", name, err)
		}
		hasInitrd = true
	}
	modules := filepath.Join(from, "modules")
	hasModules := false
	if fi, err := os.Lstat(modules); err == nil {
		if !fi.IsDir() {
			return store.Kernel{}, fmt.Errorf("kernel import %s: %w: %s is not a directory", name, ErrInvalid, modules)
		}
		hasModules = true
	}
	if _, err := s.Store.GetKernel(ctx, name); err == nil {
		return store.Kernel{}, fmt.Errorf("kernel %s: %w; choose another name or remove it with `banger kernel rm %s`", name, store.ErrAlreadyExists, name)
	}

	dir, err := s.scratch("kernel-" + name + "-")
	if err != nil {
		return store.Kernel{}, fmt.Errorf("kernel import %s: %w", name, err)
	}
	defer os.RemoveAll(dir)
	stage := filepath.Join(dir, "kernel")
	if err := os.Mkdir(stage, 0o755); err != nil {
		return store.Kernel{}, fmt.Errorf("kernel import %s: %w", name, err)
	}
	if !hasInitrd {
		initrd = ""
	}
	kdir := filepath.Join(s.KernelsDir, name)
	k, err := s.stageKernel(ctx, name, src, initrd, stage, kdir)
	if err != nil {
		return store.Kernel{}, fmt.Errorf("kernel import %s: %w", name, err)
	}
	if hasModules {
		if err := copyTree(ctx, modules, filepath.Join(stage, "modules")); err != nil {
			return store.Kernel{}, fmt.Errorf("kernel import %s: modules: %w", name, err)
		}
		if k.Version == "" {
			if ents, err := os.ReadDir(modules); err == nil && len(ents) == 1 && ents[0].IsDir() {
				k.Version = ents[0].Name()
			}
		}
	}
	return s.installKernel(ctx, stage, k)
}

// copyTree copies directories, regular files and symlinks (verbatim, never
// followed) from src to the new directory dst. Anything else is refused.
func copyTree(ctx context.Context, src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.Mkdir(target, fi.Mode().Perm()|0o700)
		case fi.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case fi.Mode().IsRegular():
			if _, err := copyRegular(ctx, "module file", p, target, noFollow, nil); err != nil {
				return err
			}
			return os.Chmod(target, fi.Mode().Perm())
		}
		return fmt.Errorf("%s: %w: not a file, directory or symlink", p, ErrInvalid)
	})
}

// checkImportDir checks the directory a kernel is imported from: an
// absolute path to a directory that the caller may read itself, as it may
// the kernel, initrd and modules in it (see access.CheckReadable).
func checkImportDir(ctx context.Context, from string) error {
	if !filepath.IsAbs(from) {
		return fmt.Errorf("%w: --from %q must be an absolute path", ErrInvalid, from)
	}
	if fi, err := os.Stat(from); err != nil || !fi.IsDir() {
		return fmt.Errorf("%w: --from %s is not a directory", ErrInvalid, from)
	}
	paths := []string{from}
	for _, f := range append([]string{catalog.InitrdFile, "modules"}, kernelFiles...) {
		if _, err := os.Lstat(filepath.Join(from, f)); err == nil {
			paths = append(paths, filepath.Join(from, f))
		}
	}
	return access.CheckReadable(ctx, paths...)
}

// DeleteKernel removes a kernel no image refers to, and its files when
// banger owns them.
func (s *Service) DeleteKernel(ctx context.Context, name string) error {
	if err := access.RequireAdmin(ctx, "delete kernel "+name); err != nil { // kernels are shared
		return err
	}
	k, err := s.Store.GetKernel(ctx, name)
	if err != nil {
		return err
	}
	imgs, err := s.Store.ImagesUsingKernel(ctx, k.ID)
	if err != nil {
		return err
	}
	if len(imgs) > 0 {
		return fmt.Errorf("kernel %s is used by image %s: %w; delete the image first (`banger image delete %s`)",
			k.Name, imgs[0].Name, store.ErrInUse, imgs[0].Name)
	}
	if err := s.Store.DeleteKernel(ctx, k.ID); err != nil {
		return fmt.Errorf("delete kernel %s: %w", k.Name, err)
	}
	if k.Managed {
		if dir := filepath.Dir(k.Path); filepath.Dir(dir) == filepath.Clean(s.KernelsDir) {
			if err := os.RemoveAll(dir); err != nil {
				return fmt.Errorf("delete files of kernel %s: %w", k.Name, err)
			}
		}
	}
	s.Log.InfoContext(ctx, "kernel deleted", "kernel", k.Name)
	return nil
}
