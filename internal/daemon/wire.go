package daemon

import (
	"context"
	"errors"
	"net/http"

	"banger/internal/access"
	"banger/internal/agent"
	"banger/internal/api"
	"banger/internal/forward"
	"banger/internal/image"
	"banger/internal/store"
	"banger/internal/units"
	"banger/internal/vm"
)

// This file is the one place where service types become wire types
// (internal/api) and back, and where service errors get their kind.

// apiError maps a service error to its wire form.
func apiError(ctx context.Context, err error) (*api.Error, int) {
	var ae *api.Error
	if errors.As(err, &ae) {
		ae.OpID = OpID(ctx)
		if ae.Kind == api.KindForbidden {
			return ae, http.StatusForbidden
		}
		return ae, http.StatusBadRequest
	}
	e := &api.Error{Kind: api.KindFailed, Message: err.Error(), OpID: OpID(ctx)}
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, image.ErrInvalid):
		e.Kind, code = api.KindBadRequest, http.StatusBadRequest
	case errors.Is(err, vm.ErrNotFound), errors.Is(err, image.ErrNotFound), errors.Is(err, image.ErrNoRecipe), errors.Is(err, store.ErrNotFound):
		e.Kind, code = api.KindNotFound, http.StatusNotFound
	case errors.Is(err, vm.ErrAlreadyExists), errors.Is(err, image.ErrAlreadyExists):
		e.Kind, code = api.KindAlreadyExists, http.StatusConflict
	case errors.Is(err, image.ErrInUse):
		e.Kind, code = api.KindInUse, http.StatusConflict
	case errors.Is(err, vm.ErrBadRequest):
		e.Kind, code = api.KindBadRequest, http.StatusBadRequest
	case errors.Is(err, access.ErrRefused):
		e.Kind, code = api.KindForbidden, http.StatusForbidden
	}
	return e, code
}

// badRequest is a request the daemon could not decode.
func badRequest(msg string) error { return &api.Error{Kind: api.KindBadRequest, Message: msg} }

// parseSize reads a size field ("4G") of a request.
func parseSize(flag, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := units.ParseSize(s)
	if err != nil {
		return 0, badRequest(flag + ": " + err.Error())
	}
	return n, nil
}

// createRequest carries the size as written: the service parses and
// checks the whole request once.
func createRequest(req api.CreateVM) vm.CreateRequest {
	return vm.CreateRequest{Name: req.Name, Image: req.Image, VCPUs: req.VCPUs, MemoryMiB: req.MemoryMiB, DiskSize: req.DiskSize,
		RootSize: req.RootSize, NAT: req.NAT, NoStart: req.NoStart, Cold: req.Cold, GitName: req.GitName, GitEmail: req.GitEmail, Remove: req.Remove, Init: req.Init,
		AutoStop: req.AutoStop, TTL: req.TTL}
}

func setRequest(req api.SetVM) vm.SetRequest {
	return vm.SetRequest{VCPUs: req.VCPUs, MemoryMiB: req.MemoryMiB, NAT: req.NAT, TTL: req.TTL, AutoStop: req.AutoStop}
}

func workspace(ws api.Workspace) vm.Workspace {
	return vm.Workspace{HostPath: ws.HostPath, GuestPath: ws.GuestPath, Head: ws.Head}
}

func vmAPI(in vm.Info) api.VM {
	var ws *api.Workspace
	if in.Workspace != nil {
		ws = &api.Workspace{HostPath: in.Workspace.HostPath, GuestPath: in.Workspace.GuestPath, Head: in.Workspace.Head,
			UpdatedAt: in.Workspace.UpdatedAt}
	}
	out := api.VM{Workspace: ws,
		ID: in.ID, Name: in.Name, State: in.State, Image: in.ImageName, IP: in.IP, MAC: in.MAC,
		VCPUs: in.VCPUs, MemoryMiB: in.MemoryMiB, DiskBytes: in.DiskBytes, NAT: in.NAT,
		Backend: in.Backend, Accel: in.Accel, PID: in.PID, Tap: in.Tap, CreatedAt: in.CreatedAt, Dir: in.Dir,
		Init: in.Init,
	}
	lifetimeAPI(&out, in)
	return out
}

// pruneAPI lists the deleted VMs; none is [] on the wire.
func pruneAPI(deleted []string) api.PruneResult {
	if deleted == nil {
		deleted = []string{}
	}
	return api.PruneResult{Deleted: deleted}
}

func sshTargetAPI(t vm.SSHTarget) api.SSHTarget {
	return api.SSHTarget{VM: t.Name, User: "root", Host: t.Host, Port: 22, KeyPath: t.KeyPath,
		KnownHosts: t.KnownHosts, HostKeyAlias: t.Alias, Via: viaAPI(t.Via)}
}

func viaAPI(via string) string {
	if via == vm.ViaAgent {
		return api.ViaAgent
	}
	return ""
}

func forwardAPI(f forward.Forward) api.Forward {
	return api.Forward{ID: f.ID, VM: f.VMName, Listen: f.Listen.String(), Target: f.Target.String(), Started: f.Started}
}

// portAPI and statsAPI copy the guest agent's answers. The wire types
// mirror the agent's on purpose: the agent protocol goes with the agent
// binary inside images, the API with the CLI, and the two change apart
// (a disk's figures are "disk_total"/"disk_free" to the agent and
// "total"/"free" in the API).
func portAPI(p agent.Port) api.Port {
	return api.Port{Proto: p.Proto, Address: p.Address, Port: p.Port, PID: p.PID, Process: p.Process}
}

func statsAPI(st agent.Stats) api.Stats {
	out := api.Stats{Load1: st.Load1, Load5: st.Load5, Load15: st.Load15, MemTotal: st.MemTotal,
		MemAvailable: st.MemAvailable, UptimeSeconds: st.UptimeSeconds, Hostname: st.Hostname}
	for _, d := range st.Disks {
		out.Disks = append(out.Disks, api.DiskUsage{Path: d.Path, Total: d.Total, Free: d.Free})
	}
	return out
}

func imageAPI(img image.Info) api.Image {
	return api.Image{ID: img.ID, Name: img.Name, Rootfs: img.Rootfs, Kernel: img.KernelName, SizeBytes: img.SizeBytes,
		Managed: img.Managed, Source: img.Source, CreatedAt: img.CreatedAt, Init: img.Init}
}

func kernelAPI(k image.Kernel) api.Kernel {
	return api.Kernel{ID: k.ID, Name: k.Name, Path: k.Path, Initrd: k.Initrd, Version: k.Version,
		Managed: k.Managed, CreatedAt: k.CreatedAt}
}

func pullRequest(req api.PullImage) (image.PullRequest, error) {
	n, err := parseSize("--size", req.Size)
	return image.PullRequest{Ref: req.Ref, Name: req.Name, Kernel: req.Kernel, SizeBytes: n}, err
}

func registerRequest(req api.RegisterImage) image.RegisterRequest {
	return image.RegisterRequest{Name: req.Name, Rootfs: req.Rootfs, Kernel: req.Kernel, Initrd: req.Initrd, KernelRef: req.KernelRef}
}

func bundleAPI(b image.BundleResult) api.Bundle {
	return api.Bundle{Kind: string(b.Entry.Kind), Name: b.Entry.Name, File: b.File, EntryFile: b.EntryFile,
		SHA256: b.Entry.BundleSHA256, SizeBytes: b.Entry.SizeBytes}
}

func cacheAPI(dryRun bool, rep image.CacheReport) api.CacheReport {
	out := api.CacheReport{DryRun: dryRun, Files: []api.CacheFile{}, Bytes: rep.Bytes}
	for _, f := range rep.Files {
		out.Files = append(out.Files, api.CacheFile{Path: f.Path, Bytes: f.Bytes})
	}
	return out
}

func catalogAPI(av image.Available) api.Catalog {
	out := api.Catalog{Images: []api.CatalogImage{}, Kernels: []api.CatalogKernel{}, Warning: av.Warning}
	for _, i := range av.Images {
		out.Images = append(out.Images, api.CatalogImage{Name: i.Name, Distro: i.Distro, Arch: i.Arch, KernelRef: i.KernelRef,
			SizeBytes: i.SizeBytes, Description: i.Description, Installed: i.Installed})
	}
	for _, k := range av.Kernels {
		out.Kernels = append(out.Kernels, api.CatalogKernel{Name: k.Name, Version: k.Version, SizeBytes: k.SizeBytes, Installed: k.Installed})
	}
	return out
}

// list maps a slice of service values to wire values; never nil, so
// an empty list is [] on the wire.
func list[T, W any](in []T, fn func(T) W) []W {
	out := make([]W, 0, len(in))
	for _, v := range in {
		out = append(out, fn(v))
	}
	return out
}
