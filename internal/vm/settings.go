package vm

import (
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"

	"banger/internal/access"
	"banger/internal/forward"
	"banger/internal/store"
)

// SetWorkspace records which repository a VM holds and where.
func (s *Service) SetWorkspace(ctx context.Context, name string, ws store.Workspace) error {
	v, err := s.getVM(ctx, name)
	if err != nil {
		return err
	}
	if !filepath.IsAbs(ws.HostPath) || !strings.HasPrefix(filepath.Clean(ws.GuestPath)+"/", "/root/") || filepath.Clean(ws.GuestPath) == "/root" {
		return badRequest("workspace paths: host path must be absolute and guest path under /root, got %q and %q", ws.HostPath, ws.GuestPath)
	}
	ws.VMID = v.ID
	ws.GuestPath = filepath.Clean(ws.GuestPath)
	return s.Store.SetWorkspace(ctx, ws)
}

// Forward forwards a host port to a running VM. The returned channel closes
// when the VM stops (the forward is then already removed).
func (s *Service) Forward(ctx context.Context, name string, sp forward.Spec) (*forward.Forward, <-chan struct{}, error) {
	v, err := s.getVM(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	if c, ok := access.CallerFrom(ctx); ok && !c.Admin && sp.HostPort != 0 && sp.HostPort < 1024 {
		return nil, nil, fmt.Errorf("%w: host port %d is privileged; only root may forward it, use a port from 1024 up",
			access.ErrRefused, sp.HostPort)
	}
	unlock := s.lock(v.ID)
	defer unlock()
	rt := s.runs.get(v.ID)
	if rt == nil {
		return nil, nil, badRequest("VM %s is not running; start it with `banger vm start %s`", v.Name, v.Name)
	}
	ip, err := netip.ParseAddr(v.IP)
	if err != nil {
		return nil, nil, err
	}
	f, err := s.Forwards.Add(v.ID, v.Name, sp, ip)
	if err != nil {
		return nil, nil, badRequest("%v", err)
	}
	return f, rt.done, nil
}

// SetRequest changes a VM's settings; nil fields stay as they are.
type SetRequest struct {
	VCPUs     *int
	MemoryMiB *int
	NAT       *bool
	// TTL, when set, deletes the VM that long from now ("off": never);
	// AutoStop sets its --auto-stop (see CreateRequest).
	TTL, AutoStop *string
}

// Set changes a VM's vCPUs and memory (while it is stopped; they apply at
// the next start) and its NAT (at once when it runs).
func (s *Service) Set(ctx context.Context, name string, req SetRequest) (Info, error) {
	v, err := s.getVM(ctx, name)
	if err != nil {
		return Info{}, err
	}
	unlock := s.lock(v.ID)
	defer unlock()
	rt := s.runs.get(v.ID)
	if rt != nil && (req.VCPUs != nil || req.MemoryMiB != nil) {
		return Info{}, badRequest("VM %s is running: stop it first (`banger vm stop %s`) to change --vcpu or --memory", v.Name, v.Name)
	}
	if (req.VCPUs != nil && *req.VCPUs < 1) || (req.MemoryMiB != nil && *req.MemoryMiB < 1) {
		return Info{}, badRequest("--vcpu and --memory must be positive")
	}
	if err := req.checkLifetime(); err != nil {
		return Info{}, err
	}
	next := CreateRequest{Name: v.Name, Image: v.ImageID, VCPUs: v.VCPUs, MemoryMiB: v.MemoryMiB, DiskBytes: v.DiskBytes}
	if req.VCPUs != nil {
		next.VCPUs = *req.VCPUs
	}
	if req.MemoryMiB != nil {
		next.MemoryMiB = *req.MemoryMiB
	}
	if err := s.validate(&next); err != nil {
		return Info{}, err
	}
	nat := v.NAT
	if req.NAT != nil {
		nat = *req.NAT
	}
	if rt != nil && nat != v.NAT {
		if err := s.setLiveNAT(ctx, v, rt, nat); err != nil {
			return Info{}, err
		}
	}
	if err := s.Store.UpdateVMSpec(ctx, v.ID, next.VCPUs, next.MemoryMiB, nat); err != nil {
		return Info{}, err
	}
	if err := s.setLifetime(ctx, v, req); err != nil {
		return Info{}, err
	}
	s.Log.InfoContext(ctx, "vm settings changed", "vm", v.Name, "vcpus", next.VCPUs, "memory_mib", next.MemoryMiB, "nat", nat)
	return s.reload(ctx, v.ID)
}

// setLiveNAT turns NAT on or off for the running VM v and records it in
// the run's handles.
func (s *Service) setLiveNAT(ctx context.Context, v store.VM, rt *runtime, nat bool) error {
	ip, err := netip.ParseAddr(v.IP)
	if err != nil {
		return err
	}
	if err := s.Net.setNAT(ctx, ip, nat); err != nil {
		return fmt.Errorf("set nat of %s: %w", v.Name, err)
	}
	s.runs.setNAT(rt, nat)
	return writeHandles(s.runDir(v.ID), rt)
}
