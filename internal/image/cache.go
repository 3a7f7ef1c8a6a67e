package image

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"syscall"

	"banger/internal/access"
	"banger/internal/image/catalog"
	"banger/internal/store"
)

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
	if err := access.RequireAdmin(ctx, "prune the image cache"); err != nil {
		return CacheReport{}, err
	}
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

// diskBytes is the space a file takes on disk (sparse files count their
// allocated blocks only).
func diskBytes(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return fi.Size()
}
