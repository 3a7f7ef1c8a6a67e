package qemu

import (
	"context"

	"banger/internal/vmm"
)

var _ vmm.Snapshotter = (*Accelerated)(nil)

// StartTemplate implements vmm.Snapshotter on the accelerator the kernel
// gets.
func (a *Accelerated) StartTemplate(ctx context.Context, cfg vmm.Config, dir string) (vmm.Handle, error) {
	return a.byAccel[a.resolve(ctx, cfg.Kernel, cfg.Initrd)].StartTemplate(ctx, cfg, dir)
}

// Snapshot implements vmm.Snapshotter.
func (a *Accelerated) Snapshot(ctx context.Context, h vmm.Handle, dir string) error {
	return a.pick(h).Snapshot(ctx, h, dir)
}

// Restore implements vmm.Snapshotter. The accelerator is part of the
// template's key, so the one the kernel gets now is the template's.
func (a *Accelerated) Restore(ctx context.Context, cfg vmm.Config, dir string) (vmm.Handle, error) {
	return a.byAccel[a.resolve(ctx, cfg.Kernel, cfg.Initrd)].Restore(ctx, cfg, dir)
}

// SnapshotKey implements vmm.Snapshotter.
func (a *Accelerated) SnapshotKey(ctx context.Context, cfg vmm.Config) (string, error) {
	return a.byAccel[a.resolve(ctx, cfg.Kernel, cfg.Initrd)].SnapshotKey(ctx, cfg)
}

// CloneDisk implements vmm.Snapshotter.
func (a *Accelerated) CloneDisk(ctx context.Context, base vmm.Disk, path string) (vmm.Disk, error) {
	return a.byAccel["tcg"].CloneDisk(ctx, base, path)
}

// ResizedDisk implements vmm.Snapshotter.
func (a *Accelerated) ResizedDisk(ctx context.Context, h vmm.Handle, index int, size int64) error {
	return a.pick(h).ResizedDisk(ctx, h, index, size)
}
