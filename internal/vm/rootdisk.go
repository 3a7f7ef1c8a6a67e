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
