package store

import (
	"context"
	"errors"
	"testing"
)

func TestImageInitAndPromote(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	k, err := s.CreateKernel(ctx, Kernel{Name: "k", Path: "/src/vmlinux", Initrd: "/src/initrd"})
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.CreateImage(ctx, Image{Name: "alpine", Rootfs: "/src/rootfs.ext4", KernelID: k.ID, Init: "/sbin/banger-init"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetImage(ctx, "alpine")
	if err != nil || got.Init != "/sbin/banger-init" {
		t.Fatalf("GetImage = %+v, %v; want init /sbin/banger-init", got, err)
	}
	if err := s.PromoteImage(ctx, img.ID, "/state/images/alpine/rootfs.ext4",
		&PromotedKernel{ID: k.ID, Path: "/state/kernels/k/vmlinux"}); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetImage(ctx, img.ID)
	if !got.Managed || got.Rootfs != "/state/images/alpine/rootfs.ext4" || got.Init != "/sbin/banger-init" {
		t.Errorf("promoted image = %+v", got)
	}
	gk, _ := s.GetKernel(ctx, k.ID)
	if !gk.Managed || gk.Path != "/state/kernels/k/vmlinux" || gk.Initrd != "" {
		t.Errorf("promoted kernel = %+v", gk)
	}
	// A missing kernel rolls the whole promotion back.
	img2, _ := s.CreateImage(ctx, Image{Name: "other", Rootfs: "/src/other.ext4"})
	err = s.PromoteImage(ctx, img2.ID, "/state/images/other/rootfs.ext4", &PromotedKernel{ID: "nope", Path: "/x"})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("PromoteImage with unknown kernel: %v, want ErrNotFound", err)
	}
	if got, _ := s.GetImage(ctx, img2.ID); got.Managed || got.Rootfs != "/src/other.ext4" {
		t.Errorf("failed promotion was not rolled back: %+v", got)
	}
}
