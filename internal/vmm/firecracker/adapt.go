package firecracker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"banger/internal/vmm"
)

var (
	_ vmm.RootDisker    = (*Firecracker)(nil)
	_ vmm.KernelAdapter = (*Firecracker)(nil)
	_ vmm.TapOwner      = (*Firecracker)(nil)
	_ vmm.AgentDialer   = (*Firecracker)(nil)
)

// DialAgent implements vmm.AgentDialer: the guest agent listens on vsock
// port AgentPort behind Firecracker's vsock unix socket.
func (f *Firecracker) DialAgent(ctx context.Context, socket string) (net.Conn, error) {
	return DialVsock(ctx, socket, AgentPort)
}

// RootDiskName is the file name of a VM's raw root disk when it is a copy.
const RootDiskName = "root.raw"

// PrepareRootDisk implements vmm.RootDisker. Firecracker takes raw block
// devices and files only. Where device-mapper is usable (see
// ProbeRootDiskMethod) the disk is a dm-snapshot: dir gets root.origin (a
// hard link of the image), a sparse root.cow and the root.dm marker, and the
// returned Disk is the marker, which Start turns into
// /dev/mapper/banger-<vm id>. Otherwise, or if the image cannot be
// hard-linked into dir, dir gets root.raw, a reflink or sparse copy.
func (f *Firecracker) PrepareRootDisk(ctx context.Context, image, dir string) (vmm.Disk, error) {
	ok, why := f.disks.dmUsable()
	if ok {
		d, err := prepareSnapshot(image, dir)
		if err == nil {
			f.log.InfoContext(ctx, "root disk prepared", "path", d.Path, "method", MethodDMSnapshot)
			return d, nil
		}
		if !errors.Is(err, errCrossDevice) {
			return vmm.Disk{}, err
		}
		why = err.Error()
	}
	dst := filepath.Join(dir, RootDiskName)
	method, err := f.disks.prepare(ctx, image, dst)
	if err != nil {
		return vmm.Disk{}, err
	}
	f.log.InfoContext(ctx, "root disk prepared", "path", dst, "method", method, "no_dm_snapshot", why)
	return vmm.Disk{Path: dst, Format: "raw"}, nil
}

// Kernel implements vmm.KernelAdapter: Firecracker on x86_64 boots an
// uncompressed ELF vmlinux. It is extracted once, next to the kernel.
func (f *Firecracker) Kernel(ctx context.Context, kernel string) (string, error) {
	comp, err := KernelCompression(kernel)
	if err != nil {
		return "", err
	}
	if comp == "elf" {
		return kernel, nil
	}
	dst := filepath.Join(filepath.Dir(kernel), "vmlinux")
	src, err := os.Stat(kernel)
	if err != nil {
		return "", fmt.Errorf("kernel for firecracker: %w", err)
	}
	if st, err := os.Stat(dst); err == nil && !st.ModTime().Before(src.ModTime()) {
		return dst, nil
	}
	if err := ExtractVmlinux(kernel, dst); err != nil {
		return "", err
	}
	return dst, nil
}

// TapOwner implements vmm.TapOwner: a jailed Firecracker runs as a uid of
// its own and must be able to open its tap.
func (f *Firecracker) TapOwner(cfg vmm.Config) int {
	if !f.jailed {
		return 0
	}
	return JailUID(f.uidBase, cfg)
}
