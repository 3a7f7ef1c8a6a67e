package image

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"banger/internal/image/golden"
	"banger/internal/image/imagetest"
	"banger/internal/store"
)

// stagedBuild lays out a finished build's files in a scratch dir, as
// golden.Builder leaves them.
func stagedBuild(t *testing.T, s *Service) golden.Result {
	t.Helper()
	if err := s.mkdirs(); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(s.TmpDir, "build", "out")
	res := golden.Result{
		Rootfs: imagetest.WriteFile(t, filepath.Join(out, golden.RootfsFile), imagetest.Ext4()),
		Kernel: imagetest.WriteFile(t, filepath.Join(out, golden.KernelFile), imagetest.BzImage("6.1.0-test")),
		Initrd: imagetest.WriteFile(t, filepath.Join(out, golden.InitrdFile), []byte("initrd")),
	}
	res.KernelVersion, res.RootfsBytes = "6.1.0-test", int64(len(imagetest.Ext4()))
	return res
}

func TestInstallBuild(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t)
	img, err := s.installBuild(ctx, "deb", "debootstrap:bookworm", stagedBuild(t, s))
	if err != nil {
		t.Fatal(err)
	}
	if img.Rootfs != filepath.Join(s.ImagesDir, "deb", golden.RootfsFile) || !img.Managed {
		t.Errorf("image = %+v", img)
	}
	k, err := s.Store.GetKernel(ctx, "deb")
	if err != nil || k.ID != img.KernelID || k.Initrd != filepath.Join(s.KernelsDir, "deb", golden.InitrdFile) {
		t.Fatalf("kernel = %+v, %v", k, err)
	}
	for _, p := range []string{img.Rootfs, k.Path, k.Initrd} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("installed file: %v", err)
		}
	}
}

func TestInstallBuildFailureLeavesNothing(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t)
	// An unmanaged image already holds the name: the kernel row and both
	// directories are in place when recording the image fails.
	u := newUserFiles(t)
	rootfs := u.rootfs
	registerInPlace(t, s, "deb", rootfs, u.kernel, "")
	_, err := s.installBuild(ctx, "deb", "debootstrap:bookworm", stagedBuild(t, s))
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("install over an existing name: %v, want ErrAlreadyExists", err)
	}
	if _, err := s.Store.GetKernel(ctx, "deb"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("kernel row left behind: %v", err)
	}
	mustNotExist(t, filepath.Join(s.KernelsDir, "deb"))
	mustNotExist(t, filepath.Join(s.ImagesDir, "deb"))
	if img, err := s.Store.GetImage(ctx, "deb"); err != nil || img.Rootfs != rootfs {
		t.Errorf("the registered image changed: %+v, %v", img, err)
	}
	if _, err := os.Stat(rootfs); err != nil {
		t.Errorf("the registered rootfs is gone: %v", err)
	}
}

func TestInstallationUndoesInReverse(t *testing.T) {
	ctx := context.Background()
	s := newTestService(t)
	if err := s.mkdirs(); err != nil {
		t.Fatal(err)
	}
	stage := filepath.Join(s.TmpDir, "stage")
	imagetest.WriteFile(t, filepath.Join(stage, "f"), []byte("x"))
	dst := filepath.Join(s.KernelsDir, "k")
	imagetest.WriteFile(t, filepath.Join(dst, "leftover"), []byte("old")) // an interrupted install

	err := func() (err error) {
		in := s.newInstallation()
		defer in.finish(&err)
		if err := in.place(stage, dst); err != nil {
			return err
		}
		if _, err := os.Stat(filepath.Join(dst, "leftover")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("leftover kept at the destination: %v", err)
		}
		k, err := in.kernel(ctx, store.Kernel{Name: "k", Path: filepath.Join(dst, "f"), Managed: true})
		if err != nil {
			return err
		}
		_, err = in.image(ctx, store.Image{Name: "Bad Name?", KernelID: k.ID + "-missing", Rootfs: "/nowhere"})
		return err
	}()
	if err == nil {
		t.Fatal("recording an image with a missing kernel succeeded")
	}
	mustNotExist(t, dst)
	if _, err := s.Store.GetKernel(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("kernel row left behind: %v", err)
	}
}
