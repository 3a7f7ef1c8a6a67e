// Package vmtest provides fakes for the host side of the VM service (VMM
// backend, links, NAT, disks) and builds a vm.Service on top of them with a
// real store, so the service and the daemon's HTTP layer can be tested
// without booting VMs or touching the network. It is for tests only.
package vmtest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"banger/internal/image"
	"banger/internal/network"
	"banger/internal/poll"
	"banger/internal/sshkey"
	"banger/internal/store"
	"banger/internal/vm"
	"banger/internal/vmm"
)

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

	readyMu    sync.Mutex
	readyCalls []store.VM
}

// Backend is the name of the fake backend.
const Backend = "fake"

// ImageName is the image present in a new Env's store.
const ImageName = "test-image"

// ImageBytes is the size of the test image's (sparse) rootfs.
const ImageBytes = 1 << 30

// CIDR is the address pool of a new Env.
const CIDR = "172.31.7.0/24"

// New builds an Env. The service's Ready succeeds at once and is recorded.
// When the test ends the service is closed (which waits for its watchers)
// before the store closes.
func New(t testing.TB) *Env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "state", "banger.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	k, img := seed(t, st, dir)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := &Env{T: t, Dir: dir, Store: st, VMM: NewVMM(Backend), Links: NewLinks(), NAT: NewNAT(), Disks: NewDisks(), Image: img, Kernel: k}
	e.Images = &image.Service{Store: st, ImagesDir: filepath.Join(dir, "images"), KernelsDir: filepath.Join(dir, "kernels"),
		TmpDir: filepath.Join(dir, "tmp"), Log: log}
	e.Service = e.NewService()
	return e
}

// seed records the kernel and image every Env has.
func seed(t testing.TB, st *store.Store, dir string) (store.Kernel, store.Image) {
	ctx := context.Background()
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
	// A sparse rootfs: root disks are sized from it.
	rootfs := filepath.Join(idir, "rootfs.ext4")
	if err := os.WriteFile(rootfs, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(rootfs, ImageBytes); err != nil {
		t.Fatal(err)
	}
	img, err := st.CreateImage(ctx, store.Image{Name: ImageName, Rootfs: rootfs, KernelID: k.ID, SizeBytes: ImageBytes, Managed: true, Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return k, img
}

// NewService returns a fresh service over the Env's store, directories and
// fakes, as a restarted daemon would build it. It is closed when the test
// ends.
func (e *Env) NewService() *vm.Service {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := &vm.Service{
		Store:    e.Store,
		Images:   e.Images,
		Backends: map[string]vmm.VMM{Backend: e.VMM},
		Backend:  Backend,
		Net: &vm.HostNet{
			Links: e.Links, NAT: e.NAT, Pool: mustPool(), Bridge: "bgtest0",
			TapPrefix: network.TapPrefix, TapName: network.TapName, MACFor: network.MACFor, Log: log,
		},
		Guest: &vm.Guest{
			KeyPath:     filepath.Join(e.Dir, "ssh", "id_ed25519"),
			KnownHosts:  &sshkey.KnownHosts{Path: filepath.Join(e.Dir, "ssh", "known_hosts")},
			BootTimeout: time.Second,
			Log:         log,
		},
		Disks:        e.Disks,
		VMsDir:       filepath.Join(e.Dir, "vms"),
		RuntimeDir:   filepath.Join(e.Dir, "run", "vms"),
		DefaultImage: ImageName,
		Defaults:     vm.Defaults{VCPUs: 2, MemoryMiB: 512, DiskBytes: 1 << 30, RootBytes: 4 << 30},
		StopTimeout:  time.Second,
		Log:          log,
		LookPath:     func(name string) (string, error) { return "/usr/bin/" + name, nil },
		Ready: func(_ context.Context, v store.VM, _ <-chan struct{}) error {
			e.readyMu.Lock()
			defer e.readyMu.Unlock()
			e.readyCalls = append(e.readyCalls, v)
			return nil
		},
	}
	e.T.Cleanup(s.Close)
	return s
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
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	err := poll.Until(ctx, 2*time.Millisecond, nil, func(context.Context) (bool, error) { return cond(), nil })
	if err != nil {
		t.Fatalf("timed out waiting until %s", what)
	}
}

// Exists reports whether path exists.
func Exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}

// HoldReady makes the service's readiness wait run hold instead of
// succeeding at once, so a test can keep a create or start in its ready
// step until it has seen what it waits for.
func (e *Env) HoldReady(hold func(ctx context.Context) error) {
	e.Service.Ready = func(ctx context.Context, _ store.VM, _ <-chan struct{}) error { return hold(ctx) }
}
