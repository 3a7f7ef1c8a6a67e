// Package vm is the VM lifecycle service: create, start, stop, kill, delete,
// and finding running VMs again after a daemon restart. It speaks to VMM
// backends only through the vmm interface.
package vm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"banger/internal/atomicfile"
	"banger/internal/disk"
	"banger/internal/forward"
	"banger/internal/hosttools"
	"banger/internal/image"
	"banger/internal/progress"
	"banger/internal/sshkey"
	"banger/internal/store"
	"banger/internal/units"
	"banger/internal/vmm"
)

// Links is the part of the network package the service needs.
type Links interface {
	EnsureBridge(ctx context.Context, name string, gw netip.Prefix) error
	CreateTapOwned(ctx context.Context, name, bridge string, uid int) error
	DeleteTap(ctx context.Context, name string) error
	ListTaps(ctx context.Context, prefix string) ([]string, error)
	DeleteUnusedTap(ctx context.Context, name string) (bool, error)
}

// NAT enables and disables outbound NAT for one VM.
type NAT interface {
	Enable(ctx context.Context, vmIP netip.Addr, bridge string) error
	Disable(ctx context.Context, vmIP netip.Addr) error
}

// Pool allocates guest addresses.
type Pool interface {
	Prefix() netip.Prefix
	Gateway() netip.Addr
	GatewayPrefix() netip.Prefix
	Allocate(used map[netip.Addr]bool) (netip.Addr, error)
}

// Disks makes a VM's disks.
type Disks interface {
	Overlay(ctx context.Context, backing, path string) error
	WorkDisk(ctx context.Context, path string, size int64, seed, label string) error
}

// Defaults are the resources of a VM when a request names none.
type Defaults struct {
	VCPUs     int
	MemoryMiB int
	DiskBytes int64
}

// Service runs VMs.
type Service struct {
	Store    *store.Store
	Images   *image.Service
	Backends map[string]vmm.VMM
	Backend  string // backend for new VMs
	Links    Links
	NAT      NAT
	Pool     Pool
	Disks    Disks
	Bridge   string
	// TapPrefix names the taps of this daemon; TapName derives per-VM names.
	TapPrefix    string
	TapName      func(vmID string) (string, error)
	MACFor       func(ip netip.Addr) string
	VMsDir       string // durable per-VM files (disks, console log)
	RuntimeDir   string // per-VM sockets and handles
	DefaultImage string
	Defaults     Defaults
	KeyPath      string
	KnownHosts   *sshkey.KnownHosts
	FileSync     []FileSync // copied into each VM at every start
	Forwards     *forward.Manager
	StopTimeout  time.Duration
	BootTimeout  time.Duration
	NATDefault   bool // NAT for VMs whose request does not say
	Log          *slog.Logger
	// BridgeReady runs after each successful EnsureBridge (e.g. to route
	// the .vm DNS zone to the daemon); nil does nothing.
	BridgeReady func(ctx context.Context)
	// Changed runs after a VM was created, started, stopped or deleted
	// (e.g. to rewrite banger's ssh config); nil does nothing.
	Changed func(ctx context.Context)
	// LookPath finds host tools; nil means exec.LookPath.
	LookPath func(string) (string, error)
	// Ready waits until a booted VM accepts work; nil means waiting for
	// SSH (and pinning the guest's host key). exited closes if the VMM
	// process ends first.
	Ready func(ctx context.Context, v store.VM, exited <-chan struct{}) error

	createMu sync.Mutex // serialises address and CID allocation
	locksMu  sync.Mutex
	locks    map[string]*sync.Mutex
	runMu    sync.Mutex
	running  map[string]*runtime
}

// runtime is what the daemon knows about a running VM. It is mirrored in
// the VM's handles.json so that a restarted daemon finds it again.
type runtime struct {
	Handle vmm.Handle `json:"handle"`
	// done closes when this run ends; forwards to the VM end with it.
	done        chan struct{}
	Tap         string    `json:"tap"`
	AgentSocket string    `json:"agent_socket"`
	IP          string    `json:"ip"`
	NAT         bool      `json:"nat"`
	StartedAt   time.Time `json:"started_at"`
	stopping    bool
}

// ErrBadRequest marks errors in the caller's input.
var ErrBadRequest = errors.New("bad request")

func badRequest(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, a...))
}

func (s *Service) lock(id string) func() {
	s.locksMu.Lock()
	if s.locks == nil {
		s.locks = map[string]*sync.Mutex{}
	}
	m, ok := s.locks[id]
	if !ok {
		m = &sync.Mutex{}
		s.locks[id] = m
	}
	s.locksMu.Unlock()
	m.Lock()
	return m.Unlock
}

func (s *Service) vmDir(id string) string      { return filepath.Join(s.VMsDir, id) }
func (s *Service) runDir(id string) string     { return filepath.Join(s.RuntimeDir, id) }
func (s *Service) consoleLog(id string) string { return filepath.Join(s.vmDir(id), "console.log") }
func handlesPath(dir string) string            { return filepath.Join(dir, "handles.json") }

// backendOf is the backend of a VM, or nil.
func (s *Service) backendOf(v store.VM) vmm.VMM { return s.Backends[v.Backend] }

const (
	rootQcow2 = "root.qcow2"
	rootRaw   = "root.raw"
	rootDM    = "root.dm" // a Firecracker dm-snapshot, set up at each start
)

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// rootDisk is the VM's root disk: a device-mapper snapshot marker or a raw
// file for backends that made one, else the qcow2 overlay.
func (s *Service) rootDisk(id string) vmm.Disk {
	if dm := filepath.Join(s.vmDir(id), rootDM); fileExists(dm) {
		return vmm.Disk{Path: dm, Format: "raw"}
	}
	raw := filepath.Join(s.vmDir(id), rootRaw)
	if _, err := os.Stat(raw); err == nil {
		return vmm.Disk{Path: raw, Format: "raw"}
	}
	return vmm.Disk{Path: filepath.Join(s.vmDir(id), rootQcow2), Format: "qcow2"}
}

func (s *Service) backend(name string) (vmm.VMM, error) {
	b, ok := s.Backends[name]
	if !ok {
		return nil, fmt.Errorf("VMM backend %q is not available in this daemon", name)
	}
	return b, nil
}

// Info is a VM with its live state.
type Info struct {
	store.VM
	ImageName string
	Running   bool
	PID       int
	Tap       string
	Accel     string
	Dir       string
	Workspace *store.Workspace
}

func (s *Service) info(ctx context.Context, v store.VM) Info {
	in := Info{VM: v, Dir: s.vmDir(v.ID)}
	if ws, err := s.Store.GetWorkspace(ctx, v.ID); err == nil {
		in.Workspace = &ws
	}
	if img, err := s.Store.GetImage(ctx, v.ImageID); err == nil {
		in.ImageName = img.Name
	}
	s.runMu.Lock()
	rt := s.running[v.ID]
	s.runMu.Unlock()
	if rt != nil {
		in.Running = true
		in.PID = rt.Handle.PID
		in.Tap = rt.Tap
		in.Accel = rt.Handle.Accel
		in.State = "running"
	} else if v.State == "running" {
		in.State = "stopped"
	}
	return in
}

// List returns every VM with its live state.
func (s *Service) List(ctx context.Context) ([]Info, error) {
	vms, err := s.Store.ListVMs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Info, 0, len(vms))
	for _, v := range vms {
		out = append(out, s.info(ctx, v))
	}
	return out, nil
}

// getVM looks a VM up by name or id; an unknown one is an error that says
// how to find the right name.
func (s *Service) getVM(ctx context.Context, name string) (store.VM, error) {
	v, err := s.Store.GetVM(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return v, fmt.Errorf("no VM called %q (%w); `banger vm list` shows them", name, store.ErrNotFound)
	}
	return v, err
}

// Get returns one VM by name or id.
func (s *Service) Get(ctx context.Context, name string) (Info, error) {
	v, err := s.getVM(ctx, name)
	if err != nil {
		return Info{}, err
	}
	return s.info(ctx, v), nil
}

// CreateRequest is what a user asks for; zero values take the defaults.
type CreateRequest struct {
	Name      string
	Image     string
	VCPUs     int
	MemoryMiB int
	DiskBytes int64
	NAT       *bool // nil: NATDefault
	NoStart   bool
	// GitName and GitEmail, when set, become the guest's global git
	// identity at the first boot (the host user's, sent by the CLI).
	GitName, GitEmail string
}

func (s *Service) validate(req *CreateRequest) error {
	if req.Name != "" {
		if err := ValidateName(req.Name); err != nil {
			return badRequest("%v", err)
		}
	}
	if req.Image == "" {
		req.Image = s.DefaultImage
	}
	if req.VCPUs == 0 {
		req.VCPUs = s.Defaults.VCPUs
	}
	if req.MemoryMiB == 0 {
		req.MemoryMiB = s.Defaults.MemoryMiB
	}
	if req.DiskBytes == 0 {
		req.DiskBytes = s.Defaults.DiskBytes
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
	return nil
}

// Check validates a create request and fills in its defaults, so callers
// can refuse bad input before starting a long operation.
func (s *Service) Check(ctx context.Context, req *CreateRequest) error {
	if err := s.validate(req); err != nil {
		return err
	}
	if req.Name != "" {
		if _, err := s.Store.GetVM(ctx, req.Name); err == nil {
			return fmt.Errorf("VM name %q: %w; pick another --name or delete the old VM", req.Name, store.ErrAlreadyExists)
		}
	}
	return nil
}

// Create records a new VM, makes its disks and, unless NoStart, boots it
// and waits until SSH answers. If anything fails before the boot, nothing of
// the VM remains; a VM whose boot fails is kept (stopped) so that its
// console log can be read with `banger vm logs`.
func (s *Service) Create(ctx context.Context, req CreateRequest, p progress.Func) (Info, error) {
	if err := s.Check(ctx, &req); err != nil {
		return Info{}, err
	}
	b, err := s.backend(s.Backend)
	if err != nil {
		return Info{}, err
	}
	if pf, ok := b.(interface{ Preflight(context.Context) error }); ok {
		if err := pf.Preflight(ctx); err != nil {
			return Info{}, err
		}
	}
	if err := hosttools.Require(s.LookPath, s.requiredTools(b)...); err != nil {
		return Info{}, err
	}
	img, err := s.Images.Ensure(ctx, req.Image, p)
	if err != nil {
		return Info{}, err
	}
	rec, err := s.allocate(ctx, req, img.Image)
	if err != nil {
		return Info{}, err
	}
	p.Msg("create", fmt.Sprintf("VM %s: %d vcpu · %d MiB · %s disk · %s", rec.Name, rec.VCPUs, rec.MemoryMiB, units.FormatSize(rec.DiskBytes), rec.IP))
	if err := s.makeDisks(ctx, rec, img); err != nil {
		_ = os.RemoveAll(s.vmDir(rec.ID))
		_ = s.Store.DeleteVM(context.WithoutCancel(ctx), rec.ID)
		return Info{}, err
	}
	s.Log.InfoContext(ctx, "vm created", "vm", rec.Name, "id", rec.ID, "ip", rec.IP)
	if req.NoStart {
		return s.info(ctx, rec), nil
	}
	return s.Start(withGitIdentity(ctx, gitIdentity{req.GitName, req.GitEmail}), rec.ID, p)
}

// allocate picks the name, address and CID and inserts the row, under one
// lock so that concurrent creates never collide.
func (s *Service) allocate(ctx context.Context, req CreateRequest, img store.Image) (store.VM, error) {
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
	ip, err := s.Pool.Allocate(used)
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
		ID: store.NewID(), Name: name, ImageID: img.ID, VCPUs: req.VCPUs, MemoryMiB: req.MemoryMiB,
		DiskBytes: req.DiskBytes, NAT: s.NATDefault, IP: ip.String(), MAC: s.MACFor(ip),
		Backend: s.Backend, GuestCID: cid, State: "created",
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

func (s *Service) makeDisks(ctx context.Context, v store.VM, img image.Resolved) error {
	dir := s.vmDir(v.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create VM dir: %w", err)
	}
	if rd, ok := s.backendOf(v).(vmm.RootDisker); ok {
		if _, err := rd.PrepareRootDisk(ctx, img.Image.Rootfs, dir); err != nil {
			return err
		}
	} else if err := s.Disks.Overlay(ctx, img.Image.Rootfs, filepath.Join(dir, rootQcow2)); err != nil {
		return err
	}
	_, authorized, err := sshkey.Ensure(s.KeyPath)
	if err != nil {
		return err
	}
	seed, err := os.MkdirTemp(dir, "seed-")
	if err != nil {
		return fmt.Errorf("create work disk seed: %w", err)
	}
	defer os.RemoveAll(seed)
	if err := disk.Seed(seed, authorized); err != nil {
		return err
	}
	return s.Disks.WorkDisk(ctx, filepath.Join(dir, "work.ext4"), v.DiskBytes, seed, "banger-work")
}

// Start boots a stopped VM and waits until SSH answers.
func (s *Service) Start(ctx context.Context, name string, p progress.Func) (Info, error) {
	v, err := s.getVM(ctx, name)
	if err != nil {
		return Info{}, err
	}
	unlock := s.lock(v.ID)
	defer unlock()
	if s.isRunning(v.ID) {
		return s.info(ctx, v), nil
	}
	if err := s.start(ctx, v, p); err != nil {
		return Info{}, err
	}
	v, err = s.Store.GetVM(ctx, v.ID)
	if err != nil {
		return Info{}, err
	}
	return s.info(ctx, v), nil
}

func (s *Service) isRunning(id string) bool {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	_, ok := s.running[id]
	return ok
}

func (s *Service) start(ctx context.Context, v store.VM, p progress.Func) (err error) {
	b, err := s.backend(v.Backend)
	if err != nil {
		return err
	}
	img, err := s.Images.Get(ctx, v.ImageID)
	if err != nil {
		return fmt.Errorf("start %s: %w", v.Name, err)
	}
	ip, err := netip.ParseAddr(v.IP)
	if err != nil {
		return fmt.Errorf("start %s: stored address %q: %w", v.Name, v.IP, err)
	}
	tap, err := s.TapName(v.ID)
	if err != nil {
		return err
	}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	bg := context.WithoutCancel(ctx)
	p.Msg("network", "bridge "+s.Bridge+", tap "+tap)
	if err := s.Links.EnsureBridge(ctx, s.Bridge, s.Pool.GatewayPrefix()); err != nil {
		return fmt.Errorf("start %s: %w", v.Name, err)
	}
	if s.BridgeReady != nil {
		s.BridgeReady(ctx)
	}
	kernel := img.Kernel.Path
	if ka, ok := b.(vmm.KernelAdapter); ok {
		if kernel, err = ka.Kernel(ctx, kernel); err != nil {
			return fmt.Errorf("start %s: %w", v.Name, err)
		}
	}
	rdir := s.runDir(v.ID)
	cmdline := kernelCmdline(v, netip.PrefixFrom(ip, s.Pool.Prefix().Bits()), s.Pool.Gateway())
	if img.Image.Init != "" {
		cmdline += " init=" + img.Image.Init
	}
	cfg := vmm.Config{
		ID:      v.ID,
		Kernel:  kernel,
		Initrd:  img.Kernel.Initrd,
		Cmdline: cmdline,
		Disks: []vmm.Disk{
			s.rootDisk(v.ID),
			{Path: filepath.Join(s.vmDir(v.ID), "work.ext4"), Format: "raw"},
		},
		NICs:        []vmm.NIC{{Tap: tap, MAC: v.MAC}},
		VCPUs:       v.VCPUs,
		MemoryMiB:   v.MemoryMiB,
		Dir:         rdir,
		ConsoleLog:  s.consoleLog(v.ID),
		AgentSocket: s.agentSocket(v.ID),
		GuestCID:    v.GuestCID,
	}
	owner := 0
	if to, ok := b.(vmm.TapOwner); ok {
		owner = to.TapOwner(cfg)
	}
	if err := s.Links.CreateTapOwned(ctx, tap, s.Bridge, owner); err != nil {
		return fmt.Errorf("start %s: %w", v.Name, err)
	}
	undo = append(undo, func() { _ = s.Links.DeleteTap(bg, tap) })
	if v.NAT {
		if err := s.NAT.Enable(ctx, ip, s.Bridge); err != nil {
			return fmt.Errorf("start %s: %w", v.Name, err)
		}
		undo = append(undo, func() { _ = s.NAT.Disable(bg, ip) })
	}
	if err := os.MkdirAll(rdir, 0o700); err != nil {
		return fmt.Errorf("start %s: %w", v.Name, err)
	}
	undo = append(undo, func() { _ = os.RemoveAll(rdir) })
	p.Msg("boot", fmt.Sprintf("booting %s on %s", v.Name, b.Name()))
	started := time.Now()
	h, err := b.Start(ctx, cfg)
	if err != nil {
		return fmt.Errorf("start %s: %w", v.Name, err)
	}
	undo = append(undo, func() { _ = b.Kill(bg, h) })
	rt := &runtime{done: make(chan struct{}), Handle: h, Tap: tap, AgentSocket: cfg.AgentSocket, IP: v.IP, NAT: v.NAT, StartedAt: started}
	if err := writeHandles(rdir, rt); err != nil {
		return err
	}
	s.Log.InfoContext(ctx, "vm started", "vm", v.Name, "pid", h.PID, "accel", h.Accel, "tap", tap)
	exited := make(chan struct{})
	go func() {
		_ = b.Wait(context.Background(), h)
		close(exited)
	}()
	p.Msg("ssh", "waiting for ssh on "+v.IP)
	ready := s.Ready
	if ready == nil {
		ready = s.waitReady
	}
	if err := ready(withProgress(ctx, p), v, exited); err != nil {
		return fmt.Errorf("start %s: %w; the serial console is in `banger vm logs %s`", v.Name, err, v.Name)
	}
	if err := s.Store.UpdateVMState(ctx, v.ID, "running"); err != nil {
		return err
	}
	s.runMu.Lock()
	if s.running == nil {
		s.running = map[string]*runtime{}
	}
	s.running[v.ID] = rt
	s.runMu.Unlock()
	go s.watch(v.ID, rt, exited)
	s.changed(ctx)
	p.Msg("ready", fmt.Sprintf("%s is ready after %.1fs", v.Name, time.Since(started).Seconds()))
	return nil
}

// requiredTools are the host programs creating and booting a VM on b runs.
func (s *Service) requiredTools(b vmm.VMM) []string {
	tools := []string{"mkfs.ext4"}
	if _, ok := b.(vmm.RootDisker); !ok {
		tools = append(tools, "qemu-img")
	}
	if r, ok := b.(interface{ RequiredTools() []string }); ok {
		tools = append(tools, r.RequiredTools()...)
	}
	return tools
}

type (
	progressKey    struct{}
	gitIdentityKey struct{}
)

// gitIdentity is the git user.name and user.email to set in a guest.
type gitIdentity struct{ name, email string }

func withGitIdentity(ctx context.Context, g gitIdentity) context.Context {
	return context.WithValue(ctx, gitIdentityKey{}, g)
}

func gitIdentityFrom(ctx context.Context) gitIdentity {
	g, _ := ctx.Value(gitIdentityKey{}).(gitIdentity)
	return g
}

// withProgress lets steps below a Ready function report progress.
func withProgress(ctx context.Context, p progress.Func) context.Context {
	return context.WithValue(ctx, progressKey{}, p)
}

func progressFrom(ctx context.Context) progress.Func {
	p, _ := ctx.Value(progressKey{}).(progress.Func)
	return p
}

func (s *Service) changed(ctx context.Context) {
	if s.Changed != nil {
		s.Changed(ctx)
	}
}

// LookupIP returns the address of the running VM called name.
func (s *Service) LookupIP(ctx context.Context, name string) (netip.Addr, bool) {
	v, err := s.Store.GetVM(ctx, name)
	if err != nil || v.Name != name || !s.isRunning(v.ID) {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(v.IP)
	return ip, err == nil
}

func kernelCmdline(v store.VM, addr netip.Prefix, gw netip.Addr) string {
	return fmt.Sprintf("console=ttyS0 root=/dev/vda rw net.ifnames=0 panic=-1 quiet "+
		"systemd.show_status=auto banger.ip=%s banger.gw=%s banger.hostname=%s", addr, gw, v.Name)
}

// watch notices a VMM process that exits by itself and cleans up after it.
// rt identifies the run being watched: by the time the exit is noticed, the
// VM may have been stopped and started again, and the new run is not ours.
func (s *Service) watch(id string, rt *runtime, exited <-chan struct{}) {
	<-exited
	unlock := s.lock(id)
	defer unlock()
	s.runMu.Lock()
	current := s.running[id]
	s.runMu.Unlock()
	if current != rt || rt.stopping {
		return
	}
	s.Log.Info("vm process exited", "id", id, "pid", rt.Handle.PID)
	s.cleanup(context.Background(), id, rt)
	_ = s.Store.UpdateVMState(context.Background(), id, "stopped")
}

// cleanup undoes the runtime setup of a VM whose process is gone.
func (s *Service) cleanup(ctx context.Context, id string, rt *runtime) {
	if rt.NAT {
		if ip, err := netip.ParseAddr(rt.IP); err == nil {
			if err := s.NAT.Disable(ctx, ip); err != nil {
				s.Log.Warn("disable nat", "id", id, "err", err)
			}
		}
	}
	if err := s.Links.DeleteTap(ctx, rt.Tap); err != nil {
		s.Log.Warn("delete tap", "id", id, "tap", rt.Tap, "err", err)
	}
	_ = os.RemoveAll(s.runDir(id))
	s.runMu.Lock()
	delete(s.running, id)
	if rt.done != nil {
		close(rt.done)
		rt.done = nil
	}
	s.runMu.Unlock()
	if s.Forwards != nil {
		s.Forwards.RemoveVM(id)
	}
	s.changed(ctx)
}

func (s *Service) waitSSH(ctx context.Context, v store.VM, exited <-chan struct{}) error {
	signer, _, err := sshkey.Ensure(s.KeyPath)
	if err != nil {
		return err
	}
	timeout := s.BootTimeout
	if timeout == 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cfg := &ssh.ClientConfig{
		User:              "root",
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   s.KnownHosts.Callback(sshkey.Alias(v.ID)),
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519},
		Timeout:           5 * time.Second,
	}
	addr := netip.AddrPortFrom(netip.MustParseAddr(v.IP), 22).String()
	var last error
	for {
		c, err := ssh.Dial("tcp", addr, cfg)
		if err == nil {
			defer c.Close()
			if err := s.syncFiles(ctx, c, progressFrom(ctx)); err != nil {
				return err
			}
			return setGitIdentity(c, gitIdentityFrom(ctx))
		}
		if errors.Is(err, sshkey.ErrHostKeyMismatch) {
			return err
		}
		last = err
		select {
		case <-exited:
			return fmt.Errorf("the VM's process exited during boot")
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("ssh on %s did not answer within %s (last error: %v)", addr, timeout, last)
			}
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func writeHandles(dir string, rt *runtime) error {
	return atomicfile.WriteJSON(handlesPath(dir), rt, 0o600)
}

func readHandles(dir string) (*runtime, error) {
	b, err := os.ReadFile(handlesPath(dir))
	if err != nil {
		return nil, err
	}
	var rt runtime
	if err := json.Unmarshal(b, &rt); err != nil {
		return nil, fmt.Errorf("parse %s: %w", handlesPath(dir), err)
	}
	return &rt, nil
}
