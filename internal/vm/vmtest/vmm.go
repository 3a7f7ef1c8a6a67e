package vmtest

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

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
	// Tools are the host programs the backend says it runs.
	Tools []string

	mu        sync.Mutex
	nextPID   int
	procs     map[int]*proc
	held      map[int]chan struct{} // closed by ReleaseWait
	startErr  error
	starts    []vmm.Config
	stops     []vmm.Handle
	kills     []vmm.Handle
	releases  []vmm.Handle
	roots     map[string]string // root disk path -> image
	rootSizes map[string]int64  // root disk path -> size asked for
}

// NewVMM returns a fake backend named name.
func NewVMM(name string) *VMM {
	return &VMM{BackendName: name, nextPID: 1000, procs: map[int]*proc{}, held: map[int]chan struct{}{}, roots: map[string]string{}, rootSizes: map[string]int64{}}
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

// RootDiskName is the file the fake makes as a VM's root disk.
const RootDiskName = "root.img"

// PrepareRootDisk implements vmm.RootDisker: an empty qcow2-labelled
// root.img in dir, recorded with the image and size it was made with.
func (f *VMM) PrepareRootDisk(_ context.Context, image, dir string, size int64) (vmm.Disk, error) {
	p := filepath.Join(dir, RootDiskName)
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		return vmm.Disk{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.roots[p] = image
	f.rootSizes[p] = size
	return vmm.Disk{Path: p, Format: "qcow2"}, nil
}

// RootSize returns the size the root disk at path was asked to have.
func (f *VMM) RootSize(path string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rootSizes[path]
}

// RootImage returns the image the root disk at path was made from.
func (f *VMM) RootImage(path string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.roots[path]
}

// RequiredTools implements vmm.ToolRequirer with Tools.
func (f *VMM) RequiredTools() []string { return slices.Clone(f.Tools) }

// Running returns the pids of the processes that still run, sorted.
func (f *VMM) Running() []int {
	f.mu.Lock()
	var pids []int
	for pid := range f.procs {
		pids = append(pids, pid)
	}
	f.mu.Unlock()
	slices.Sort(pids)
	return slices.DeleteFunc(pids, func(pid int) bool { return !f.Alive(pid) })
}

// Release records h: the service asks the backend to undo what a run left
// (vm's releaser).
func (f *VMM) Release(_ context.Context, h vmm.Handle) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.releases = append(f.releases, h)
}

// Releases returns the handles Release was called with, in order.
func (f *VMM) Releases() []vmm.Handle {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.releases)
}
