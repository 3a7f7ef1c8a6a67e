package vm_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"banger/internal/agent"
	"banger/internal/progress"
	"banger/internal/vm"
	"banger/internal/vm/vmtest"
	"banger/internal/vmm"
)

// snapVMM is the fake backend with snapshots: Restore starts a fake
// process and serves an agent that records the identity it is given.
type snapVMM struct {
	*vmtest.VMM
	mu         sync.Mutex
	restores   []vmm.Config
	identities []agent.Identity
	clones     map[string]string // clone path -> base
	// templates receives the config of each StartTemplate, which fails.
	templates chan vmm.Config
}

func (s *snapVMM) StartTemplate(_ context.Context, cfg vmm.Config, _ string) (vmm.Handle, error) {
	s.templates <- cfg
	return vmm.Handle{}, errors.New("no template boots in this test")
}
func (s *snapVMM) Snapshot(context.Context, vmm.Handle, string) error { return nil }
func (s *snapVMM) SnapshotKey(context.Context, vmm.Config) (string, error) {
	return "fake-machine", nil
}
func (s *snapVMM) ResizedDisk(context.Context, vmm.Handle, int, int64) error { return nil }

func (s *snapVMM) CloneDisk(_ context.Context, base vmm.Disk, path string) (vmm.Disk, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clones[path] = base.Path
	return vmm.Disk{Path: path, Format: "qcow2"}, os.WriteFile(path, nil, 0o600)
}

func (s *snapVMM) Restore(ctx context.Context, cfg vmm.Config, dir string) (vmm.Handle, error) {
	s.mu.Lock()
	s.restores = append(s.restores, cfg)
	s.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(cfg.AgentSocket), 0o700); err != nil {
		return vmm.Handle{}, err
	}
	l, err := net.Listen("unix", cfg.AgentSocket)
	if err != nil {
		return vmm.Handle{}, err
	}
	srv := &agent.Server{Identity: func(id agent.Identity) (agent.IdentityResult, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.identities = append(s.identities, id)
		return agent.IdentityResult{Hostname: id.Net.Hostname}, nil
	}}
	go func() {
		defer l.Close()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go srv.ServeConn(context.Background(), c)
		}
	}()
	h, err := s.VMM.Start(ctx, cfg)
	go func() { _ = s.Wait(context.Background(), h); l.Close() }()
	return h, err
}

// taken returns the identities given so far (the agent's goroutine
// records them).
func (s *snapVMM) taken() []agent.Identity {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]agent.Identity(nil), s.identities...)
}

// warmEnv is a vmtest.Env whose backend has snapshots and one template of
// the test image in the default shape.
func warmEnv(t *testing.T) (*vmtest.Env, *snapVMM, vm.Template) {
	e := vmtest.New(t)
	for _, f := range []string{e.Kernel.Path, e.Kernel.Initrd, e.Image.Rootfs} {
		if err := os.WriteFile(f, []byte(f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sn := &snapVMM{VMM: e.VMM, clones: map[string]string{}, templates: make(chan vmm.Config, 4)}
	e.Service.Backends[vmtest.Backend] = sn
	e.Service.Templates = &vm.Templates{Dir: filepath.Join(e.Dir, "templates")}
	key, err := vm.TemplateKey(ctx, sn, vmtest.Backend, e.Image.ID, vmm.Config{Kernel: e.Kernel.Path, Initrd: e.Kernel.Initrd,
		Disks: []vmm.Disk{{Path: e.Image.Rootfs}}, VCPUs: 2, MemoryMiB: 512}, e.Service.Defaults.RootBytes)
	if err != nil {
		t.Fatal(err)
	}
	dir := e.Service.Templates.Path(key)
	tp := vm.Template{Key: key, ImageID: e.Image.ID, Backend: vmtest.Backend, TemplateShape: vm.TemplateShape{VCPUs: 2, MemoryMiB: 512, RootBytes: e.Service.Defaults.RootBytes},
		Kernel: "/tpl/vmlinuz", Cmdline: "template-cmdline", NICs: 1,
		Disks: []vmm.Disk{{Path: filepath.Join(dir, "root.qcow2"), Format: "qcow2"}, {Path: filepath.Join(dir, "work.ext4")}}}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := e.Service.Templates.Save(tp); err != nil {
		t.Fatal(err)
	}
	return e, sn, tp
}

func TestCreateRestoresATemplate(t *testing.T) {
	e, sn, tp := warmEnv(t)
	var msgs []string
	in, err := e.Service.Create(ctx, vm.CreateRequest{Name: "warm1"}, func(ev progress.Event) { msgs = append(msgs, ev.Message) })
	if err != nil {
		t.Fatal(err)
	}
	if len(sn.restores) != 1 || len(e.VMM.Starts()) != 1 {
		t.Fatalf("%d restores, %d starts; want one restore", len(sn.restores), len(e.VMM.Starts()))
	}
	c := sn.restores[0]
	root := filepath.Join(e.VMDir(in.ID), "root.qcow2")
	if c.Kernel != "/tpl/vmlinuz" || c.Cmdline != "template-cmdline" || c.Disks[0].Path != root || sn.clones[root] != tp.Disks[0].Path {
		t.Errorf("restored %+v; clones %v", c, sn.clones)
	}
	ids := sn.taken()
	if len(ids) != 1 {
		t.Fatalf("%d identities taken, want 1", len(ids))
	}
	id := ids[0]
	if id.Net.Hostname != "warm1" || id.Net.Addr.Addr().String() != in.IP || id.MAC != in.MAC || len(id.MachineID) != 32 || len(id.Entropy) < 32 || id.WorkDevice != "/dev/vdb" {
		t.Errorf("identity %+v for %s %s", id, in.IP, in.MAC)
	}
	if !strings.Contains(strings.Join(msgs, "\n"), "restored from snapshot in") {
		t.Errorf("progress does not say it restored:\n%s", strings.Join(msgs, "\n"))
	}
	// Later starts boot cold from the same disk.
	if _, err := e.Service.Restart(ctx, "warm1", nil); err != nil {
		t.Fatal(err)
	}
	if starts := e.VMM.Starts(); len(sn.restores) != 1 || len(starts) != 2 || starts[1].Cmdline == "template-cmdline" || starts[1].Disks[0].Path != root {
		t.Errorf("restart: %d restores, starts %+v", len(sn.restores), starts)
	}
	// The template is kept while the VM is over it.
	if _, err := e.Service.DeleteSnapshot(ctx, tp.Key[:8]); !errors.Is(err, vm.ErrInUse) {
		t.Errorf("DeleteSnapshot while a VM is over it = %v, want ErrInUse", err)
	}
}

func TestCreateColdIgnoresTemplates(t *testing.T) {
	e, sn, _ := warmEnv(t)
	in := create(t, e, vm.CreateRequest{Name: "cold1", Cold: true})
	if len(sn.restores) != 0 || len(sn.clones) != 0 {
		t.Fatalf("--cold restored (%d) or cloned (%d)", len(sn.restores), len(sn.clones))
	}
	if s := e.VMM.Starts(); len(s) != 1 || !strings.Contains(s[0].Cmdline, "banger.hostname=cold1") {
		t.Fatalf("starts %+v", s)
	}
	if got := e.VMM.RootImage(filepath.Join(e.VMDir(in.ID), vmtest.RootDiskName)); got != e.Image.Rootfs {
		t.Errorf("cold root disk over %q, want the image", got)
	}
}

func TestColdBootWarmsInTheBackground(t *testing.T) {
	e, sn, tp := warmEnv(t)
	if _, err := e.Service.DeleteSnapshot(ctx, tp.Key); err != nil {
		t.Fatal(err)
	}
	e.Service.AutoWarm = true
	create(t, e, vm.CreateRequest{Name: "first"})
	cfg := <-sn.templates // the background template boot
	if !strings.Contains(cfg.Cmdline, "banger.work=none") || cfg.VCPUs != 2 || cfg.MemoryMiB != 512 || len(cfg.Disks) != 2 || len(cfg.NICs) != 1 {
		t.Errorf("template config %+v", cfg)
	}
	create(t, e, vm.CreateRequest{Name: "cold", Cold: true})
	e.Service.AutoWarm = false
	create(t, e, vm.CreateRequest{Name: "off"})
	e.Service.Close() // waits for background work
	select {
	case cfg := <-sn.templates:
		t.Errorf("a template boot after --cold or with auto_warm off: %+v", cfg)
	default:
	}
	if l, _ := e.Service.Snapshots(); len(l) != 0 {
		t.Errorf("a failed template left %+v", l)
	}
}
