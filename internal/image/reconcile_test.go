package image

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"banger/internal/store"
)

// TestReconcileRemovesUnnamedDirs: the image and kernel dirs an install
// put in place before a crash kept it from writing its rows are removed at
// start; those rows name are kept, and so is the scratch space's parent.
func TestReconcileRemovesUnnamedDirs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, dir)
	s := serviceIn(st, dir)
	files := []string{"images/kept/rootfs.ext4", "kernels/kept/vmlinuz", "images/cut/rootfs.ext4", "kernels/cut/vmlinuz", "tmp/pull-x/rootfs.ext4"}
	for _, f := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := st.CreateKernelAndImage(ctx, store.Kernel{Name: "kept", Path: filepath.Join(dir, files[1])},
		store.Image{Name: "kept", Rootfs: filepath.Join(dir, files[0])}); err != nil {
		t.Fatal(err)
	}
	if err := s.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		_, err := os.Stat(filepath.Join(dir, f))
		if kept := i < 2; kept != (err == nil) {
			t.Errorf("%s: exists %v, want %v", f, err == nil, kept)
		}
	}
}

// openStore opens a store in dir, closed when the test ends.
func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(dir, "banger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// serviceIn is an image service over st keeping its files under dir.
func serviceIn(st *store.Store, dir string) *Service {
	return &Service{Store: st, ImagesDir: filepath.Join(dir, "images"), KernelsDir: filepath.Join(dir, "kernels"),
		CacheDir: filepath.Join(dir, "cache"), TmpDir: filepath.Join(dir, "tmp"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}
