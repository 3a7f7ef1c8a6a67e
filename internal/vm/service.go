// Package vm is the VM lifecycle service: create, start, stop, kill, delete,
// and finding running VMs again after a daemon restart. It speaks to VMM
// backends only through the vmm interface.
//
// The service is composed of three parts with one job each: HostNet (the
// host's network plumbing for a VM), Guest (access into a running guest:
// its agent, readiness, file sync and git identity) and a registry of the
// running VMs and the goroutines that watch their processes. What happens
// to VMs is published as Events that the daemon subscribes to.
package vm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"banger/internal/access"
	"banger/internal/crashpoint"
	"banger/internal/event"
	"banger/internal/forward"
	"banger/internal/image"
	"banger/internal/store"
	"banger/internal/vmm"
)

// Disks makes a VM's work disk.
type Disks interface {
	WorkDisk(ctx context.Context, path string, size int64, seed, label string) error
}

// Defaults are the resources of a VM when a request names none.
type Defaults struct {
	VCPUs     int
	MemoryMiB int
	DiskBytes int64
	// RootBytes is the room on / (see CreateRequest.RootBytes).
	RootBytes int64
	// FitVCPUs, when set, is the vCPUs a VM gets by default given what
	// the backend asks for its kernel (see vmm.Advisor).
	FitVCPUs func(vmm.Hints) int
}

// Service runs VMs.
type Service struct {
	Store    *store.Store
	Images   *image.Service
	Backends map[string]vmm.VMM
	Backend  string // backend for new VMs
	// Net attaches VMs to the host network; Guest reaches into them.
	Net          *HostNet
	Guest        *Guest
	Disks        Disks
	VMsDir       string // durable per-VM files (disks, console log)
	RuntimeDir   string // per-VM sockets and handles
	DefaultImage string
	Defaults     Defaults
	Forwards     *forward.Manager
	StopTimeout  time.Duration
	// ConsoleMax caps each VM's console log (console.log, plus one
	// rotated console.log.1); 0 means DefaultConsoleMax.
	ConsoleMax int64
	NATDefault bool // NAT for VMs whose request does not say
	Log        *slog.Logger
	// LookPath finds host tools; nil means exec.LookPath.
	LookPath func(string) (string, error)
	// Ready, when set, replaces Guest's wait for a booted VM to accept
	// work (tests use it). exited closes if the VMM process ends first.
	Ready func(ctx context.Context, v store.VM, exited <-chan struct{}) error
	// Templates, when set, are the snapshots new VMs restore from (see
	// warm.go); nil means every VM boots cold.
	Templates *Templates
	// AutoWarm makes the template of a cold-booted VM's image and shape in
	// the background when there is none (config auto_warm).
	AutoWarm bool
	// Crash is the test-only crash hook (see internal/crashpoint); the
	// zero hook does nothing.
	Crash crashpoint.Hook
	// Lifetimes configures idle stop and time to live (see idle.go).
	Lifetimes Lifetimes

	createMu sync.Mutex // serialises address and CID allocation
	locksMu  sync.Mutex
	locks    map[string]*sync.Mutex
	starting starts          // starts in flight, which kill, stop and delete pre-empt
	creating map[string]bool // VMs whose disks are being made; under locksMu
	runs     registry
	warming  sync.Map // templates being made in the background, by image/backend/shape
	events   event.Bus[Event]
	idle     idleTracker // sessions and idle stretches of running VMs
}

// The errors the service's methods wrap. Callers that map them to their
// own kinds (the HTTP layer) check these, and need not import the store.
var (
	// ErrBadRequest marks errors in the caller's input.
	ErrBadRequest    = errors.New("bad request")
	ErrNotFound      = store.ErrNotFound      // no such VM (or image)
	ErrAlreadyExists = store.ErrAlreadyExists // the name is taken
	ErrInUse         = store.ErrInUse
)

// Workspace is the repository a VM holds (see SetWorkspace).
type Workspace = store.Workspace

func badRequest(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, a...))
}

// Close stops watching the VMs' processes (the VMs keep running) and ends
// every event subscription, waiting for both.
func (s *Service) Close() {
	s.runs.close()
	s.events.Close()
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

func (s *Service) vmDir(id string) string       { return filepath.Join(s.VMsDir, id) }
func (s *Service) runDir(id string) string      { return filepath.Join(s.RuntimeDir, id) }
func (s *Service) consoleLog(id string) string  { return filepath.Join(s.vmDir(id), "console.log") }
func (s *Service) agentSocket(id string) string { return filepath.Join(s.runDir(id), "agent.sock") }
func (s *Service) sshSocket(id string) string   { return filepath.Join(s.runDir(id), "ssh.sock") }

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
	// ViaAgent says the running VM is reached over its agent's SSH
	// channel rather than the network (see Connect).
	ViaAgent bool
	// AutoStop is how long the VM may stay idle before it is stopped (0:
	// never); IdleSince is since when the running VM has been idle (zero
	// before the first check). ExpiresAt is when it is deleted (zero:
	// never). StoppedReason says why a stopped VM stopped by itself
	// ("idle"), if it did.
	AutoStop      time.Duration
	IdleSince     time.Time
	ExpiresAt     time.Time
	StoppedReason string
}

func (s *Service) info(ctx context.Context, v store.VM) Info {
	in := Info{VM: v, Dir: s.vmDir(v.ID)}
	if ws, err := s.Store.GetWorkspace(ctx, v.ID); err == nil {
		in.Workspace = &ws
	}
	if img, err := s.Store.GetImage(ctx, v.ImageID); err == nil {
		in.ImageName = img.Name
	}
	if rt := s.runs.get(v.ID); rt != nil {
		in.Running = true
		in.PID = rt.Handle.PID
		in.Tap = rt.Tap
		in.Accel = rt.Handle.Accel
		in.ViaAgent = rt.ViaAgent
		in.State = store.VMStateRunning
	} else if v.State == store.VMStateRunning {
		in.State = store.VMStateStopped
	}
	s.lifetimeInfo(ctx, &in)
	return in
}

// reload returns the current Info of VM id.
func (s *Service) reload(ctx context.Context, id string) (Info, error) {
	v, err := s.Store.GetVM(ctx, id)
	if err != nil {
		return Info{}, err
	}
	return s.info(ctx, v), nil
}

// List returns every VM the caller in ctx may see (see access.Owns) with
// its live state.
func (s *Service) List(ctx context.Context) ([]Info, error) {
	vms, err := s.Store.ListVMs(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Info, 0, len(vms))
	for _, v := range vms {
		if access.Owns(ctx, v.OwnerUID) {
			out = append(out, s.info(ctx, v))
		}
	}
	return out, nil
}

// getVM looks a VM up by name or id; an unknown one is an error that says
// how to find the right name. A VM of another user is unknown to a
// caller who is not an admin: every operation on a named VM starts here.
func (s *Service) getVM(ctx context.Context, name string) (store.VM, error) {
	v, err := s.Store.GetVM(ctx, name)
	if err == nil && !access.Owns(ctx, v.OwnerUID) {
		v, err = store.VM{}, store.ErrNotFound
	}
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

// LookupIP returns the address of the running VM called name.
func (s *Service) LookupIP(ctx context.Context, name string) (netip.Addr, bool) {
	v, err := s.Store.GetVM(ctx, name)
	if err != nil || v.Name != name || s.runs.get(v.ID) == nil {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(v.IP)
	return ip, err == nil
}
