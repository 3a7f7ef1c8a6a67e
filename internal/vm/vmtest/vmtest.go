// Package vmtest provides fakes for the host side of the VM service (VMM
// backend, links, NAT, disks) and builds a vm.Service on top of them with a
// real store, so the service and the daemon's HTTP layer can be tested
// without booting VMs or touching the network. It is for tests only.
package vmtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"banger/internal/image"
	"banger/internal/network"
	"banger/internal/sshkey"
	"banger/internal/store"
	"banger/internal/vm"
	"banger/internal/vmm"
)

// proc is one fake VMM process.
type proc struct {
	done chan struct{} // closed when the process ends
	once sync.Once
}

func (p *proc) end() { p.once.Do(func() { close(p.done) }) }

// VMM is a fake vmm.VMM. Started processes run until the test ends them
// with Exit or the service calls Stop or Kill.
type VMM struct {
	BackendName string

	mu       sync.Mutex
	nextPID  int
	procs    map[int]*proc
	held     map[int]chan struct{} // closed by ReleaseWait
	startErr error
	starts   []vmm.Config
	stops    []vmm.Handle
	kills    []vmm.Handle
}

// NewVMM returns a fake backend named name.
func NewVMM(name string) *VMM {
	return &VMM{BackendName: name, nextPID: 1000, procs: map[int]*proc{}, held: map[int]chan struct{}{}}
}

// Name implements vmm.VMM.
func (f *VMM) Name() string { return f.BackendName }

// FailStart makes every later Start fail with err (nil to succeed again).
func (f *VMM) FailStart(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.startErr = err
}

// Start implements vmm.VMM.
func (f *VMM) Start(_ context.Context, cfg vmm.Config) (vmm.Handle, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts = append(f.starts, cfg)
	if f.startErr != nil {
		return vmm.Handle{}, f.startErr
	}
	f.nextPID++
	pid := f.nextPID
	f.spawnLocked(pid)
	return vmm.Handle{Backend: f.BackendName, PID: pid, StartTime: uint64(pid) * 7, Control: filepath.Join(cfg.Dir, "control.sock"), Accel: "fake"}, nil
}

func (f *VMM) spawnLocked(pid int) *proc {
	p := &proc{done: make(chan struct{})}
	f.procs[pid] = p
	return p
}

// Spawn registers a live process with pid, as if it had survived a daemon
// restart.
func (f *VMM) Spawn(pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.spawnLocked(pid)
}

// HoldWait makes Wait for pid block, even after the process ended, until
// ReleaseWait. It may be called before the process exists.
func (f *VMM) HoldWait(pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.held[pid]; !ok {
		f.held[pid] = make(chan struct{})
	}
}

// ReleaseWait lets Wait for pid report the process's end.
func (f *VMM) ReleaseWait(pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch, ok := f.held[pid]; ok {
		close(ch)
		delete(f.held, pid)
	}
}

// NextPID returns the pid the next Start will hand out.
func (f *VMM) NextPID() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.nextPID + 1
}

// Exit ends the process pid as if it had exited by itself.
func (f *VMM) Exit(pid int) {
	f.mu.Lock()
	p := f.procs[pid]
	f.mu.Unlock()
	if p != nil {
		p.end()
	}
}

// ExitAll ends every process and releases every held Wait.
func (f *VMM) ExitAll() {
	f.mu.Lock()
	var ps []*proc
	for _, p := range f.procs {
		ps = append(ps, p)
	}
	for pid, ch := range f.held {
		close(ch)
		delete(f.held, pid)
	}
	f.mu.Unlock()
	for _, p := range ps {
		p.end()
	}
}

// Alive reports whether process pid runs.
func (f *VMM) Alive(pid int) bool {
	f.mu.Lock()
	p := f.procs[pid]
	f.mu.Unlock()
	if p == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stop implements vmm.VMM: the guest shuts down at once.
func (f *VMM) Stop(_ context.Context, h vmm.Handle, _ time.Duration) error {
	return f.end(&f.stops, h)
}

// Kill implements vmm.VMM.
func (f *VMM) Kill(_ context.Context, h vmm.Handle) error { return f.end(&f.kills, h) }

// end records h in calls and ends its process.
func (f *VMM) end(calls *[]vmm.Handle, h vmm.Handle) error {
	f.mu.Lock()
	*calls = append(*calls, h)
	p := f.procs[h.PID]
	f.mu.Unlock()
	if p == nil {
		return vmm.ErrNotRunning
	}
	p.end()
	return nil
}

// Wait implements vmm.VMM. An unknown pid counts as already gone.
func (f *VMM) Wait(ctx context.Context, h vmm.Handle) error {
	f.mu.Lock()
	p := f.procs[h.PID]
	f.mu.Unlock()
	if p == nil {
		return nil
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	f.mu.Lock()
	hold := f.held[h.PID]
	f.mu.Unlock()
	if hold == nil {
		return nil
	}
	select {
	case <-hold:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status implements vmm.VMM.
func (f *VMM) Status(_ context.Context, h vmm.Handle) (vmm.State, error) {
	if f.Alive(h.PID) {
		return vmm.StateRunning, nil
	}
	return vmm.StateStopped, nil
}

// Starts returns the configs of every Start call.
func (f *VMM) Starts() []vmm.Config {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.starts)
}

// Stops returns the handles of every Stop call.
func (f *VMM) Stops() []vmm.Handle {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.stops)
}

// Kills returns the handles of every Kill call.
func (f *VMM) Kills() []vmm.Handle {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.kills)
}

// PreflightVMM is a backend whose Preflight fails.
type PreflightVMM struct {
	*VMM
	Err error
}

// Preflight fails with Err.
func (p PreflightVMM) Preflight(context.Context) error { return p.Err }

// Links is a fake vm.Links that records taps.
type Links struct {
	mu      sync.Mutex
	taps    map[string]string // tap -> bridge
	bridges map[string]netip.Prefix
	created []string
	deleted []string
	owners  map[string]int
	busy    map[string]bool
}

// Owner returns the uid a tap was created for.
func (l *Links) Owner(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.owners[name]
}

// NewLinks returns fake links with the given taps already present.
func NewLinks(taps ...string) *Links {
	l := &Links{taps: map[string]string{}, bridges: map[string]netip.Prefix{}}
	for _, t := range taps {
		l.taps[t] = ""
	}
	return l
}

// EnsureBridge implements vm.Links.
func (l *Links) EnsureBridge(_ context.Context, name string, gw netip.Prefix) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bridges[name] = gw
	return nil
}

// CreateTap implements vm.Links.
func (l *Links) CreateTap(ctx context.Context, name, bridge string) error {
	return l.CreateTapOwned(ctx, name, bridge, 0)
}

// CreateTapOwned implements vm.Links and records the owner.
func (l *Links) CreateTapOwned(_ context.Context, name, bridge string, uid int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.taps[name]; ok {
		return fmt.Errorf("create tap %s: already exists", name)
	}
	if _, ok := l.bridges[bridge]; !ok {
		return fmt.Errorf("create tap %s: bridge %s does not exist", name, bridge)
	}
	l.taps[name] = bridge
	l.created = append(l.created, name)
	if l.owners == nil {
		l.owners = map[string]int{}
	}
	l.owners[name] = uid
	return nil
}

// DeleteTap implements vm.Links; deleting a missing tap is not an error.
func (l *Links) DeleteTap(_ context.Context, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.taps, name)
	l.deleted = append(l.deleted, name)
	return nil
}

// DeleteUnusedTap implements vm.Links; taps marked with Busy are in use.
func (l *Links) DeleteUnusedTap(ctx context.Context, name string) (bool, error) {
	l.mu.Lock()
	_, exists := l.taps[name]
	busy := l.busy[name]
	l.mu.Unlock()
	if !exists || busy {
		return false, nil
	}
	return true, l.DeleteTap(ctx, name)
}

// Busy marks a tap as held open by some process.
func (l *Links) Busy(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy == nil {
		l.busy = map[string]bool{}
	}
	l.busy[name] = true
}

// ListTaps implements vm.Links.
func (l *Links) ListTaps(_ context.Context, prefix string) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for t := range l.taps {
		if strings.HasPrefix(t, prefix) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Has reports whether tap exists.
func (l *Links) Has(tap string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.taps[tap]
	return ok
}

// Taps returns the existing taps, sorted.
func (l *Links) Taps() []string {
	out, _ := l.ListTaps(context.Background(), "")
	return out
}

// Created returns every tap created, in order.
func (l *Links) Created() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.created)
}

// Deleted returns every tap deletion, in order.
func (l *Links) Deleted() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.deleted)
}

// NAT is a fake vm.NAT.
type NAT struct {
	mu       sync.Mutex
	enabled  map[netip.Addr]string
	disabled []netip.Addr
}

// NewNAT returns a fake NAT with no rules.
func NewNAT() *NAT { return &NAT{enabled: map[netip.Addr]string{}} }

// Enable implements vm.NAT.
func (n *NAT) Enable(_ context.Context, ip netip.Addr, bridge string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.enabled[ip] = bridge
	return nil
}

// Disable implements vm.NAT.
func (n *NAT) Disable(_ context.Context, ip netip.Addr) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.enabled, ip)
	n.disabled = append(n.disabled, ip)
	return nil
}

// Enabled reports whether NAT is on for ip.
func (n *NAT) Enabled(ip string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.enabled[netip.MustParseAddr(ip)]
	return ok
}

// Disabled returns every address NAT was disabled for, in order.
func (n *NAT) Disabled() []netip.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.disabled)
}

// Disks is a fake vm.Disks that creates empty files and records what it
// was asked for.
type Disks struct {
	mu         sync.Mutex
	Err        error
	Backing    map[string]string // overlay path -> backing file
	WorkSizes  map[string]int64  // work disk path -> size
	SeedKeys   map[string]string // work disk path -> seeded authorized_keys
	SeedLabels map[string]string
}

// NewDisks returns fake disks.
func NewDisks() *Disks {
	return &Disks{Backing: map[string]string{}, WorkSizes: map[string]int64{}, SeedKeys: map[string]string{}, SeedLabels: map[string]string{}}
}

// Overlay implements vm.Disks.
func (d *Disks) Overlay(_ context.Context, backing, path string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Err != nil {
		return d.Err
	}
	d.Backing[path] = backing
	return os.WriteFile(path, nil, 0o600)
}

// WorkDisk implements vm.Disks.
func (d *Disks) WorkDisk(_ context.Context, path string, size int64, seed, label string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Err != nil {
		return d.Err
	}
	key, err := os.ReadFile(filepath.Join(seed, ".ssh", "authorized_keys"))
	if err != nil {
		return err
	}
	d.WorkSizes[path] = size
	d.SeedKeys[path] = string(key)
	d.SeedLabels[path] = label
	return os.WriteFile(path, nil, 0o600)
}

// Env is a vm.Service wired to fakes, with a real store in a temp dir.
type Env struct {
	T       testing.TB
	Dir     string
	Store   *store.Store
	Images  *image.Service
	VMM     *VMM
	Links   *Links
	NAT     *NAT
	Disks   *Disks
	Service *vm.Service
	Image   store.Image
	Kernel  store.Kernel
	// ReadyCalls counts calls of the default Ready.
	readyMu    sync.Mutex
	readyCalls []store.VM
}

// Backend is the name of the fake backend.
const Backend = "fake"

// ImageName is the image present in a new Env's store.
const ImageName = "test-image"

// CIDR is the address pool of a new Env.
const CIDR = "172.31.7.0/24"

// New builds an Env. The service's Ready succeeds at once and is recorded.
// When the test ends every fake process is ended and the service is given
// a moment to notice before the store closes.
func New(t testing.TB) *Env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "state", "banger.db"))
	if err != nil {
		t.Fatal(err)
	}
	kdir := filepath.Join(dir, "kernels", ImageName)
	idir := filepath.Join(dir, "images", ImageName)
	for _, d := range []string{kdir, idir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	k, err := st.CreateKernel(ctx, store.Kernel{Name: ImageName, Path: filepath.Join(kdir, "vmlinuz"), Initrd: filepath.Join(kdir, "initrd.img"), Version: "6.1.0-test", Managed: true})
	if err != nil {
		t.Fatal(err)
	}
	img, err := st.CreateImage(ctx, store.Image{Name: ImageName, Rootfs: filepath.Join(idir, "rootfs.ext4"), KernelID: k.ID, SizeBytes: 1 << 30, Managed: true, Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &Env{T: t, Dir: dir, Store: st, VMM: NewVMM(Backend), Links: NewLinks(), NAT: NewNAT(), Disks: NewDisks(), Image: img, Kernel: k}
	e.Images = &image.Service{Store: st, ImagesDir: filepath.Join(dir, "images"), KernelsDir: filepath.Join(dir, "kernels"),
		TmpDir: filepath.Join(dir, "tmp"), Log: log}
	e.Service = e.NewService()
	t.Cleanup(func() {
		e.VMM.ExitAll()
		// Let exit watchers finish with the store before it closes.
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			infos, err := e.Service.List(ctx)
			if err != nil || !slices.ContainsFunc(infos, func(in vm.Info) bool { return in.Running }) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		st.Close()
	})
	return e
}

// NewService returns a fresh service over the Env's store, directories and
// fakes, as a restarted daemon would build it.
func (e *Env) NewService() *vm.Service {
	return &vm.Service{
		Store:        e.Store,
		Images:       e.Images,
		Backends:     map[string]vmm.VMM{Backend: e.VMM},
		Backend:      Backend,
		Links:        e.Links,
		NAT:          e.NAT,
		Pool:         mustPool(),
		Disks:        e.Disks,
		Bridge:       "bgtest0",
		TapPrefix:    network.TapPrefix,
		TapName:      network.TapName,
		MACFor:       network.MACFor,
		VMsDir:       filepath.Join(e.Dir, "vms"),
		RuntimeDir:   filepath.Join(e.Dir, "run", "vms"),
		DefaultImage: ImageName,
		Defaults:     vm.Defaults{VCPUs: 2, MemoryMiB: 512, DiskBytes: 1 << 30},
		KeyPath:      filepath.Join(e.Dir, "ssh", "id_ed25519"),
		KnownHosts:   &sshkey.KnownHosts{Path: filepath.Join(e.Dir, "ssh", "known_hosts")},
		StopTimeout:  time.Second,
		BootTimeout:  time.Second,
		Log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		LookPath:     func(name string) (string, error) { return "/usr/bin/" + name, nil },
		Ready: func(_ context.Context, v store.VM, _ <-chan struct{}) error {
			e.readyMu.Lock()
			defer e.readyMu.Unlock()
			e.readyCalls = append(e.readyCalls, v)
			return nil
		},
	}
}

func mustPool() network.Pool {
	p, err := network.ParsePool(CIDR)
	if err != nil {
		panic(err)
	}
	return p
}

// ReadyCalls returns the VMs the default Ready was called for.
func (e *Env) ReadyCalls() []store.VM {
	e.readyMu.Lock()
	defer e.readyMu.Unlock()
	return slices.Clone(e.readyCalls)
}

// RunDir is the runtime directory of VM id.
func (e *Env) RunDir(id string) string { return filepath.Join(e.Service.RuntimeDir, id) }

// VMDir is the durable directory of VM id.
func (e *Env) VMDir(id string) string { return filepath.Join(e.Service.VMsDir, id) }

// Eventually polls cond until it holds or a few seconds pass.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Exists reports whether path exists.
func Exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}
