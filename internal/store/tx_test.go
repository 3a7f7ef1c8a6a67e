package store

import (
	"context"
	"errors"
	"testing"
)

// TestCreateKernelAndImageIsAtomic: when the image row cannot be written,
// the kernel row is not written either (before, a build recorded the
// kernel first and a failure or crash before the image left it behind).
func TestCreateKernelAndImageIsAtomic(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	k, img, err := s.CreateKernelAndImage(ctx, Kernel{Name: "bookworm", Path: "/k/vmlinuz"}, Image{Name: "bookworm", Rootfs: "/i/rootfs.ext4"})
	if err != nil {
		t.Fatal(err)
	}
	if img.KernelID != k.ID {
		t.Errorf("image boots kernel %q, want %q", img.KernelID, k.ID)
	}
	_, _, err = s.CreateKernelAndImage(ctx, Kernel{Name: "other", Path: "/k2/vmlinuz"}, Image{Name: "bookworm", Rootfs: "/i2/rootfs.ext4"})
	if !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second image named bookworm: %v, want ErrAlreadyExists", err)
	}
	if _, err := s.GetKernel(ctx, "other"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the kernel of a failed kernel-and-image insert was recorded: %v", err)
	}
}
