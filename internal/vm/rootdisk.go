package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/store"
	"banger/internal/vmm"
)

// rootDiskSize is the size of a VM root disk over an image of image bytes
// whose / has at least room bytes more free than the image's: the image,
// the room, and an eighth of the room for what ext4 keeps of the blocks
// the agent adds (5 % reserved for root by default, and the inode tables
// and bitmaps of the new block groups), rounded up to a MiB.
func rootDiskSize(image, room int64) int64 {
	if room <= 0 {
		return image
	}
	const mib = 1 << 20
	n := image + room + room/8
	return (n + mib - 1) / mib * mib
}

// makeRootDisk has the backend make v's root disk from the image's raw
// rootfs, in dir, with room bytes of room on /, and records it.
func (s *Service) freshRootDisk(ctx context.Context, v store.VM, rootfs, dir string, rd vmm.RootDisker, room int64) (vmm.Disk, error) {
	st, err := os.Stat(rootfs)
	if err != nil {
		return vmm.Disk{}, err
	}
	size := rootDiskSize(st.Size(), room)
	root, err := rd.PrepareRootDisk(ctx, rootfs, dir, size)
	if err != nil {
		return vmm.Disk{}, err
	}
	s.Log.InfoContext(ctx, "root disk", "vm", v.Name, "image_bytes", st.Size(), "room_bytes", room, "disk_bytes", size)
	return root, nil
}

// recordRootDisk records the root disk the backend made for VM id: its
// path relative to the VM's directory when it lies there, else absolute.
func (s *Service) recordRootDisk(ctx context.Context, id string, d vmm.Disk) error {
	if d.Path == "" || d.Format == "" {
		return fmt.Errorf("the backend returned a root disk without path or format (%+v)", d)
	}
	p := d.Path
	if rel, err := filepath.Rel(s.vmDir(id), p); err == nil && filepath.IsAbs(p) && !strings.HasPrefix(rel, "..") {
		p = rel
	}
	return s.Store.SetVMRootDisk(ctx, id, p, d.Format)
}

// rootDisk is v's recorded root disk with an absolute path. A VM created
// before root disks were recorded has its disk found once by the file
// names used then, and recorded.
func (s *Service) rootDisk(ctx context.Context, v store.VM) (vmm.Disk, error) {
	if v.RootDisk == "" {
		d, err := s.unrecordedRootDisk(v)
		if err != nil {
			return vmm.Disk{}, err
		}
		if err := s.recordRootDisk(ctx, v.ID, d); err != nil {
			return vmm.Disk{}, err
		}
		v.RootDisk, v.RootFormat = d.Path, d.Format
	}
	p := v.RootDisk
	if !filepath.IsAbs(p) {
		p = filepath.Join(s.vmDir(v.ID), p)
	}
	return vmm.Disk{Path: p, Format: v.RootFormat}, nil
}

// unrecordedRootDisk finds the root disk of a VM made before the VM row
// recorded it (schema version 3 and older), by the file names the backends
// used then, most specific first.
func (s *Service) unrecordedRootDisk(v store.VM) (vmm.Disk, error) {
	for _, d := range []vmm.Disk{
		{Path: "root.dm", Format: "raw"}, // a device-mapper snapshot marker
		{Path: "root.raw", Format: "raw"},
		{Path: "root.qcow2", Format: "qcow2"},
	} {
		p := filepath.Join(s.vmDir(v.ID), d.Path)
		if _, err := os.Stat(p); err == nil {
			return vmm.Disk{Path: p, Format: d.Format}, nil
		}
	}
	return vmm.Disk{}, fmt.Errorf("VM %s has no recorded root disk and none in %s; recreate it", v.Name, s.vmDir(v.ID))
}
