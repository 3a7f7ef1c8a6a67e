package firecracker

import (
	"context"
	"fmt"

	"banger/internal/vmm"
	"banger/internal/vmm/rootdisk"
)

// RootDiskName is the file name of a VM's raw root disk when it is a copy.
const RootDiskName = rootdisk.RawName

// PrepareRootDisk implements vmm.RootDisker. Firecracker takes raw block
// devices and files only: a device-mapper snapshot where device-mapper is
// usable, else a reflink or sparse copy (see rootdisk.Host.Prepare). A
// snapshot's Disk is its root.dm marker, which Start turns into
// /dev/mapper/banger-<vm id>. A disk larger than its image (size) is a
// copy extended with a hole.
func (f *Firecracker) PrepareRootDisk(ctx context.Context, image, dir string, size int64) (vmm.Disk, error) {
	d, method, why, err := f.diskHost().Prepare(ctx, image, dir, size)
	if err != nil {
		return vmm.Disk{}, err
	}
	f.log.InfoContext(ctx, "root disk prepared", "path", d.Path, "method", method, "no_dm_snapshot", why)
	return d, nil
}

// diskHost is the host as root disks see it, running commands through the
// backend's runner.
func (f *Firecracker) diskHost() rootdisk.Host {
	h := f.disks
	h.Run, h.Log = f.run, f.log
	return h
}

// activateSnapshots replaces root.dm markers among cfg's disks by the
// device-mapper snapshots they describe, set up now and recorded in st.
func (f *Firecracker) activateSnapshots(ctx context.Context, cfg vmm.Config, st *runState) (vmm.Config, error) {
	disks := append([]vmm.Disk(nil), cfg.Disks...)
	for i, d := range disks {
		if !rootdisk.IsSnapshotMarker(d.Path) {
			continue
		}
		if i != 0 || d.ReadOnly {
			return cfg, fmt.Errorf("disk %d (%s): only a writable root disk can be a %s", i, d.Path, rootdisk.MethodDMSnapshot)
		}
		st.DM = &rootdisk.DMState{}
		dev, err := f.diskHost().Activate(ctx, cfg.ID, d.Path, st.DM, st.save)
		if err != nil {
			return cfg, err
		}
		disks[i].Path = dev
		f.log.DebugContext(ctx, "root disk snapshot active", "vm", cfg.ID, "device", dev, "loops", rootdisk.LoopDevs(st.DM.Loops))
	}
	cfg.Disks = disks
	return cfg, nil
}
