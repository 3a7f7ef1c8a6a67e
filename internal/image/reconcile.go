package image

import (
	"context"
	"os"
	"path/filepath"
	"strings"
)

// Reconcile runs once when the daemon starts, before any build or pull:
// it removes the scratch space of installs a crash cut off, and the
// directories under ImagesDir and KernelsDir that no row names (an install
// cut off between the rename of its files into place and its rows).
func (s *Service) Reconcile(ctx context.Context) error {
	if s.TmpDir != "" {
		_ = os.RemoveAll(s.TmpDir)
	}
	imgs, err := s.Store.ListImages(ctx)
	if err != nil {
		return err
	}
	kernels, err := s.Store.ListKernels(ctx)
	if err != nil {
		return err
	}
	var paths []string
	for _, img := range imgs {
		paths = append(paths, img.Rootfs)
	}
	for _, k := range kernels {
		paths = append(paths, k.Path, k.Initrd)
	}
	s.removeUnnamed(ctx, s.ImagesDir, paths)
	s.removeUnnamed(ctx, s.KernelsDir, paths)
	return nil
}

// removeUnnamed removes the entries of dir that hold none of paths.
func (s *Service) removeUnnamed(ctx context.Context, dir string, paths []string) {
	if dir == "" {
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		sub := filepath.Join(dir, e.Name()) + string(filepath.Separator)
		named := false
		for _, p := range paths {
			if strings.HasPrefix(filepath.Clean(p), sub) {
				named = true
				break
			}
		}
		if !named && !strings.HasPrefix(e.Name(), ".") {
			s.Log.InfoContext(ctx, "removing files no image or kernel names", "path", filepath.Join(dir, e.Name()))
			_ = os.RemoveAll(filepath.Join(dir, e.Name()))
		}
	}
}
