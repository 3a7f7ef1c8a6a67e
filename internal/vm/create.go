package vm

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"banger/internal/access"
	"banger/internal/crashpoint"
	"banger/internal/disk"
	"banger/internal/hosttools"
	"banger/internal/image"
	"banger/internal/progress"
	"banger/internal/sshkey"
	"banger/internal/store"
	"banger/internal/units"
	"banger/internal/vmm"
)

// CreateRequest is what a user asks for; zero values take the defaults.
type CreateRequest struct {
	Name      string
	Image     string
	VCPUs     int
	MemoryMiB int
	DiskBytes int64
	// DiskSize is the work disk's size as a user writes it ("8G"); it is
	// used when DiskBytes is 0.
	DiskSize string
	// RootBytes is the room on /: the root file system has at least this
	// much free at the first boot. RootSize is it as a user writes it
	// ("4G"), used when RootBytes is 0.
	RootBytes int64
	RootSize  string
	NAT       *bool // nil: NATDefault
	NoStart   bool
	// Cold boots the VM even when a template of its image and shape
	// could be restored.
	Cold bool
	// GitName and GitEmail, when set, become the guest's global git
	// identity at the first boot (the host user's, sent by the CLI).
	GitName, GitEmail string
	// Remove makes the VM live only as long as the request that creates
	// it (`vm run --rm`): a create that fails deletes it even after a
	// failed boot, and the daemon deletes it when the request ends (see
	// HoldRemove) or, after a crash, when it starts again.
	Remove bool
	// Init is what the VM boots as PID 1: InitImage (the image's choice),
	// InitAgent or InitSystemd.
	Init string
	// AutoStop ("30m", "off") is how long the VM may stay idle before it
	// is stopped; empty follows the daemon's auto_stop_stale_after. TTL
	// ("2h") is the age at which it is deleted; empty or "off": never.
	AutoStop, TTL string

	checked        bool // Check passed and filled in the defaults
	vcpusDefaulted bool // VCPUs is the default, which the backend may fit
}

// validate checks a request's own fields and fills in the defaults.
func (s *Service) validate(req *CreateRequest) error {
	if req.Name != "" {
		if err := ValidateName(req.Name); err != nil {
			return badRequest("%v", err)
		}
	}
	if req.DiskBytes == 0 && req.DiskSize != "" {
		n, err := units.ParseSize(req.DiskSize)
		if err != nil {
			return badRequest("--disk-size: %v", err)
		}
		req.DiskBytes = n
	}
	if req.RootBytes == 0 && req.RootSize != "" {
		n, err := units.ParseSize(req.RootSize)
		if err != nil {
			return badRequest("--root-size: %v", err)
		}
		req.RootBytes = n
	}
	if req.Image == "" {
		req.Image = s.DefaultImage
	}
	if req.VCPUs == 0 {
		req.VCPUs, req.vcpusDefaulted = s.Defaults.VCPUs, true
	}
	if req.MemoryMiB == 0 {
		req.MemoryMiB = s.Defaults.MemoryMiB
	}
	if req.DiskBytes == 0 {
		req.DiskBytes = s.Defaults.DiskBytes
	}
	if req.RootBytes == 0 {
		req.RootBytes = s.Defaults.RootBytes
	}
	if req.VCPUs < 1 || req.VCPUs > 64 {
		return badRequest("--vcpu %d: use 1 to 64", req.VCPUs)
	}
	if req.MemoryMiB < 128 || req.MemoryMiB > 1<<20 {
		return badRequest("--memory %d MiB: use at least 128", req.MemoryMiB)
	}
	if req.DiskBytes < 64<<20 || req.DiskBytes > 16<<40 {
		return badRequest("--disk-size %d bytes: use between 64M and 16T", req.DiskBytes)
	}
	if req.RootBytes < 0 || req.RootBytes > 16<<40 {
		return badRequest("--root-size %d bytes: use at most 16T", req.RootBytes)
	}
	_, err := lifetimeOf(*req, time.Time{})
	return err
}

// Check is the whole validation of a create request: it fills in the
// defaults and marks the request checked, so that Create does not check
// it again. Callers use it to refuse bad input before a long operation
// starts. Its errors wrap ErrBadRequest (bad input) or
// store.ErrAlreadyExists (the name is taken).
func (s *Service) Check(ctx context.Context, req *CreateRequest) error {
	if err := s.validate(req); err != nil {
		return err
	}
	if err := validInit(req.Init); err != nil {
		return err
	}
	if req.Name != "" {
		if _, err := s.Store.GetVM(ctx, req.Name); err == nil {
			return fmt.Errorf("VM name %q: %w; pick another --name or delete the old VM", req.Name, store.ErrAlreadyExists)
		}
	}
	req.checked = true
	return nil
}

// Create records a new VM, makes its disks and, unless NoStart, boots it
// and waits until it is ready. If anything fails before the boot, nothing of
// the VM remains; a VM whose boot fails is kept (stopped) so that its
// console log can be read with `banger vm logs`.
func (s *Service) Create(ctx context.Context, req CreateRequest, p progress.Func) (Info, error) {
	if !req.checked {
		if err := s.Check(ctx, &req); err != nil {
			return Info{}, err
		}
	}
	rd, err := s.newVMBackend(ctx)
	if err != nil {
		return Info{}, err
	}
	img, err := s.Images.Ensure(ctx, req.Image, p)
	if err != nil {
		return Info{}, err
	}
	if err := checkInit(ctx, img, req.Init); err != nil {
		return Info{}, err
	}
	s.fitVCPUs(ctx, &req, rd, img.Kernel)
	rec, err := s.record(ctx, req, img)
	if err != nil {
		return Info{}, err
	}
	p.Msg("create", fmt.Sprintf("VM %s: %d vcpu · %d MiB · %s disk · %s", rec.Name, rec.VCPUs, rec.MemoryMiB, units.FormatSize(rec.DiskBytes), rec.IP))
	if err := s.finishCreate(ctx, rec, img, rd, req, p); err != nil {
		return Info{}, err
	}
	s.Log.InfoContext(ctx, "vm created", "vm", rec.Name, "id", rec.ID, "ip", rec.IP)
	s.publish(ctx, Event{Kind: VMCreated, ID: rec.ID, Name: rec.Name})
	if req.NoStart {
		return s.reload(ctx, rec.ID)
	}
	// The work disk holds the git identity already; only [[file_sync]]
	// (which may bring a ~/.gitconfig of its own) needs it set again.
	var git GitIdentity
	if len(s.Guest.FileSync) > 0 {
		git = GitIdentity{Name: req.GitName, Email: req.GitEmail}
	}
	in, err := s.startNamed(ctx, rec.ID, p, git)
	// A cancelled create is undone whole, as a --rm one that failed: no
	// VM is left behind.
	if err != nil && (req.Remove || ctx.Err() != nil) {
		if derr := s.Delete(context.WithoutCancel(ctx), rec.ID); derr != nil {
			s.Log.WarnContext(ctx, "delete the VM of a failed --rm or cancelled create", "vm", rec.Name, "err", derr)
		}
	}
	if err == nil && !req.Cold {
		s.autoWarm(ctx, rec, img, req.RootBytes)
	}
	return in, err
}

// record writes the intent of a new VM in its directory, then its row.
// Until finishCreate the VM counts as being created: Delete refuses it
// and a daemon that crashes meanwhile deletes it when it starts again.
func (s *Service) record(ctx context.Context, req CreateRequest, img image.Resolved) (store.VM, error) {
	id := store.NewID()
	dir := s.vmDir(id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return store.VM{}, fmt.Errorf("create VM dir: %w", err)
	}
	if err := writeIntent(dir, intent{Creating: true, Remove: req.Remove}); err != nil {
		_ = os.RemoveAll(dir)
		return store.VM{}, err
	}
	s.markCreating(id)
	rec, err := s.allocate(ctx, id, req, img.Image)
	if err != nil {
		s.doneCreating(id)
		_ = os.RemoveAll(dir)
		return store.VM{}, err
	}
	s.Crash.At(crashpoint.CreateRow)
	return rec, nil
}

// finishCreate makes the disks of rec and ends its creating intent; when
// that fails nothing of the VM remains.
func (s *Service) finishCreate(ctx context.Context, rec store.VM, img image.Resolved, rd vmm.RootDisker, req CreateRequest, p progress.Func) error {
	defer s.doneCreating(rec.ID)
	git := GitIdentity{Name: req.GitName, Email: req.GitEmail}
	err := s.recordLifetime(ctx, rec, req)
	if err == nil {
		err = s.makeDisks(ctx, rec, img, rd, req.RootBytes, req.Cold, git, p)
	}
	if err == nil {
		s.Crash.At(crashpoint.CreateWorkDisk)
		err = writeIntent(s.vmDir(rec.ID), intent{Remove: req.Remove})
	}
	if err != nil {
		bg := context.WithoutCancel(ctx)
		_ = s.Store.DeleteVM(bg, rec.ID)
		_ = os.RemoveAll(s.vmDir(rec.ID))
		return err
	}
	return nil
}

// fitVCPUs gives a request that left the vCPUs to the defaults what the
// backend asks for a VM booting kernel k (see vmm.Advisor), when that is
// more.
func (s *Service) fitVCPUs(ctx context.Context, req *CreateRequest, backend any, k store.Kernel) {
	adv, ok := backend.(vmm.Advisor)
	if !ok || !req.vcpusDefaulted || s.Defaults.FitVCPUs == nil {
		return
	}
	h := adv.Hints(ctx, k.Path, k.Initrd)
	if n := s.Defaults.FitVCPUs(h); n > req.VCPUs {
		s.Log.InfoContext(ctx, "vcpus fitted to the backend", "vcpus", n, "why", h.Why)
		req.VCPUs = n
	}
}

// newVMBackend returns the backend new VMs run on, once it said it can run
// one now and the host tools that creating and booting one needs are
// there. It must make root disks.
func (s *Service) newVMBackend(ctx context.Context) (vmm.RootDisker, error) {
	b, err := s.backend(s.Backend)
	if err != nil {
		return nil, err
	}
	rd, ok := b.(vmm.RootDisker)
	if !ok {
		return nil, fmt.Errorf("VMM backend %q cannot make root disks (it does not implement vmm.RootDisker)", b.Name())
	}
	if pf, ok := b.(vmm.Preflighter); ok {
		if err := pf.Preflight(ctx); err != nil {
			return nil, err
		}
	}
	if err := hosttools.Require(s.LookPath, requiredTools(b)...); err != nil {
		return nil, err
	}
	return rd, nil
}

// requiredTools are the host programs creating and booting a VM on b runs:
// mkfs.ext4 for the work disk, and what the backend names.
func requiredTools(b vmm.VMM) []string {
	tools := []string{"mkfs.ext4"}
	if r, ok := b.(vmm.ToolRequirer); ok {
		tools = append(tools, r.RequiredTools()...)
	}
	return tools
}

// allocate picks the name, address and CID and inserts the row, under one
// lock so that concurrent creates never collide.
func (s *Service) allocate(ctx context.Context, id string, req CreateRequest, img store.Image) (store.VM, error) {
	s.createMu.Lock()
	defer s.createMu.Unlock()
	usedIPs, err := s.Store.UsedIPs(ctx)
	if err != nil {
		return store.VM{}, err
	}
	used := map[netip.Addr]bool{}
	for ip := range usedIPs {
		if a, err := netip.ParseAddr(ip); err == nil {
			used[a] = true
		}
	}
	ip, err := s.Net.Pool.Allocate(used)
	if err != nil {
		return store.VM{}, err
	}
	cids, err := s.Store.UsedCIDs(ctx)
	if err != nil {
		return store.VM{}, err
	}
	cid := uint32(3)
	for cids[cid] {
		cid++
	}
	name := req.Name
	if name == "" {
		name = GenerateName(func(n string) bool { _, err := s.Store.GetVM(ctx, n); return err == nil })
	}
	rec := store.VM{
		ID: id, Name: name, ImageID: img.ID, VCPUs: req.VCPUs, MemoryMiB: req.MemoryMiB,
		DiskBytes: req.DiskBytes, NAT: s.NATDefault, IP: ip.String(), MAC: s.Net.MACFor(ip),
		Backend: s.Backend, GuestCID: cid, State: store.VMStateCreated, OwnerUID: access.Owner(ctx),
		Init: req.Init,
	}
	if req.NAT != nil {
		rec.NAT = *req.NAT
	}
	rec, err = s.Store.CreateVM(ctx, rec)
	if err != nil {
		return store.VM{}, fmt.Errorf("create VM %s: %w", name, err)
	}
	return rec, nil
}

// makeDisks has the backend make the root disk, with room bytes of room
// on / (or clones a template's), records it, and makes the work disk,
// seeded with the daemon's SSH key.
func (s *Service) makeDisks(ctx context.Context, v store.VM, img image.Resolved, rd vmm.RootDisker, room int64, cold bool, git GitIdentity, p progress.Func) error {
	dir := s.vmDir(v.ID)
	root, err := s.makeRootDisk(ctx, v, img, rd, room, cold, p)
	if err != nil {
		return fmt.Errorf("make the root disk of %s: %w", v.Name, err)
	}
	s.Crash.At(crashpoint.CreateRootDisk)
	if err := s.recordRootDisk(ctx, v.ID, root); err != nil {
		return err
	}
	return s.makeWorkDisk(ctx, filepath.Join(dir, "work.ext4"), v.DiskBytes, v.ID, git)
}

// makeWorkDisk makes a work disk of size bytes at path, seeded with the
// daemon's SSH key and git's identity (~/.gitconfig). For a VM (vmID not
// empty) it also holds the VM's own SSH host key, made here and pinned
// before the VM first boots: the agent serves it, and an image's sshd gets
// it too, so no key is made in the guest and none is learned from it.
func (s *Service) makeWorkDisk(ctx context.Context, path string, size int64, vmID string, git GitIdentity) error {
	_, authorized, err := sshkey.Ensure(s.Guest.KeyPath)
	if err != nil {
		return err
	}
	seed, err := os.MkdirTemp(filepath.Dir(path), "seed-")
	if err != nil {
		return fmt.Errorf("create work disk seed: %w", err)
	}
	defer os.RemoveAll(seed)
	if err := disk.Seed(seed, authorized); err != nil {
		return err
	}
	if vmID != "" {
		if err := s.Guest.seedHostKey(seed, vmID); err != nil {
			return err
		}
	}
	if git.Name != "" || git.Email != "" {
		if err := os.WriteFile(filepath.Join(seed, ".gitconfig"), []byte(gitConfigFile(git)), 0o644); err != nil {
			return fmt.Errorf("seed the git identity: %w", err)
		}
	}
	return s.Disks.WorkDisk(ctx, path, size, seed, "banger-work")
}
