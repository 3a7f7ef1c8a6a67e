package vm_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"banger/internal/network"
	"banger/internal/progress"
	"banger/internal/sshkey"
	"banger/internal/store"
	"banger/internal/vm"
	"banger/internal/vm/vmtest"
	"banger/internal/vmm"
)

var ctx = context.Background()

func create(t *testing.T, e *vmtest.Env, req vm.CreateRequest) vm.Info {
	t.Helper()
	in, err := e.Service.Create(ctx, req, nil)
	if err != nil {
		t.Fatalf("Create(%+v): %v", req, err)
	}
	return in
}

func state(t *testing.T, e *vmtest.Env, id string) string {
	t.Helper()
	v, err := e.Store.GetVM(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return v.State
}

func tapOf(t *testing.T, id string) string {
	t.Helper()
	tap, err := network.TapName(id)
	if err != nil {
		t.Fatal(err)
	}
	return tap
}

func TestCreateWithDefaults(t *testing.T) {
	e := vmtest.New(t)
	var steps []string
	in, err := e.Service.Create(ctx, vm.CreateRequest{}, func(ev progress.Event) { steps = append(steps, ev.Step) })
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[a-z]+-[a-z]+$`).MatchString(in.Name) {
		t.Errorf("generated name %q is not adjective-noun", in.Name)
	}
	if in.VCPUs != 2 || in.MemoryMiB != 512 || in.DiskBytes != 1<<30 || in.NAT {
		t.Errorf("resources = %d vcpu, %d MiB, %d bytes, nat %v; want the defaults", in.VCPUs, in.MemoryMiB, in.DiskBytes, in.NAT)
	}
	if in.IP != "172.31.7.2" || in.MAC != "52:54:00:1f:07:02" || in.GuestCID != 3 {
		t.Errorf("ip %s mac %s cid %d; want the first of the pool", in.IP, in.MAC, in.GuestCID)
	}
	if in.ImageName != vmtest.ImageName || in.ImageID != e.Image.ID || in.Backend != vmtest.Backend {
		t.Errorf("image %q (%s) backend %q", in.ImageName, in.ImageID, in.Backend)
	}
	if !in.Running || in.State != "running" || in.PID == 0 || in.Accel != "fake" || in.Tap != tapOf(t, in.ID) {
		t.Errorf("live state = running %v state %q pid %d accel %q tap %q", in.Running, in.State, in.PID, in.Accel, in.Tap)
	}
	if got := state(t, e, in.ID); got != "running" {
		t.Errorf("stored state %q, want running", got)
	}
	if want := []string{"create", "network", "boot", "ssh", "ready"}; strings.Join(steps, ",") != strings.Join(want, ",") {
		t.Errorf("progress steps %v, want %v", steps, want)
	}

	// Disks.
	dir := e.VMDir(in.ID)
	if in.Dir != dir {
		t.Errorf("Dir = %q, want %q", in.Dir, dir)
	}
	root, work := filepath.Join(dir, vmtest.RootDiskName), filepath.Join(dir, "work.ext4")
	if got := e.VMM.RootImage(root); got != e.Image.Rootfs {
		t.Errorf("root disk made from %q, want %q", got, e.Image.Rootfs)
	}
	if v, _ := e.Store.GetVM(ctx, in.ID); v.RootDisk != vmtest.RootDiskName || v.RootFormat != "qcow2" {
		t.Errorf("recorded root disk %q (%q), want %q relative to the VM dir", v.RootDisk, v.RootFormat, vmtest.RootDiskName)
	}
	if e.Disks.WorkSizes[work] != 1<<30 || e.Disks.SeedLabels[work] != "banger-work" {
		t.Errorf("work disk size %d label %q", e.Disks.WorkSizes[work], e.Disks.SeedLabels[work])
	}
	_, authorized, err := sshkey.Ensure(e.Service.Guest.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(e.Disks.SeedKeys[work]) != strings.TrimSpace(authorized) {
		t.Errorf("work disk seeded with key %q, want %q", e.Disks.SeedKeys[work], authorized)
	}

	// What the backend was asked to boot.
	starts := e.VMM.Starts()
	if len(starts) != 1 {
		t.Fatalf("%d backend starts, want 1", len(starts))
	}
	c := starts[0]
	if c.ID != in.ID || c.Kernel != e.Kernel.Path || c.Initrd != e.Kernel.Initrd || c.VCPUs != 2 || c.MemoryMiB != 512 || c.GuestCID != 3 {
		t.Errorf("vmm config %+v", c)
	}
	if len(c.Disks) != 2 || c.Disks[0] != (vmm.Disk{Path: root, Format: "qcow2"}) || c.Disks[1] != (vmm.Disk{Path: work, Format: "raw"}) {
		t.Errorf("disks %+v", c.Disks)
	}
	if len(c.NICs) != 1 || c.NICs[0] != (vmm.NIC{Tap: in.Tap, MAC: in.MAC}) {
		t.Errorf("nics %+v", c.NICs)
	}
	for _, want := range []string{"banger.ip=172.31.7.2/24", "banger.gw=172.31.7.1", "banger.hostname=" + in.Name} {
		if !strings.Contains(c.Cmdline, want) {
			t.Errorf("cmdline %q lacks %q", c.Cmdline, want)
		}
	}
	if c.Dir != e.RunDir(in.ID) || c.ConsoleLog != filepath.Join(dir, "console.log") || c.AgentSocket != filepath.Join(e.RunDir(in.ID), "agent.sock") {
		t.Errorf("dir %q console %q agent %q", c.Dir, c.ConsoleLog, c.AgentSocket)
	}
	if !vmtest.Exists(filepath.Join(e.RunDir(in.ID), "handles.json")) {
		t.Error("handles.json not written")
	}
	if !e.Links.Has(in.Tap) {
		t.Errorf("tap %s not created", in.Tap)
	}
	if rc := e.ReadyCalls(); len(rc) != 1 || rc[0].ID != in.ID {
		t.Errorf("Ready calls %v", rc)
	}
}

func TestCreateNoStartWithNAT(t *testing.T) {
	e := vmtest.New(t)
	yes := true
	in := create(t, e, vm.CreateRequest{Name: "quiet", NoStart: true, NAT: &yes, VCPUs: 4, MemoryMiB: 1024, DiskBytes: 2 << 30})
	if in.Running || in.State != "created" || len(e.VMM.Starts()) != 0 || len(e.Links.Taps()) != 0 {
		t.Fatalf("NoStart VM was started: %+v", in)
	}
	if in.Name != "quiet" || in.VCPUs != 4 || in.MemoryMiB != 1024 || in.DiskBytes != 2<<30 || !in.NAT {
		t.Fatalf("request not honoured: %+v", in)
	}
	in, err := e.Service.Start(ctx, "quiet", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !in.Running || !e.NAT.Enabled(in.IP) {
		t.Fatalf("started VM: running %v nat %v", in.Running, e.NAT.Enabled(in.IP))
	}
	// Starting a running VM does nothing.
	if _, err := e.Service.Start(ctx, "quiet", nil); err != nil || len(e.VMM.Starts()) != 1 {
		t.Fatalf("second Start: err %v, %d backend starts", err, len(e.VMM.Starts()))
	}
}

func TestCreateDuplicateName(t *testing.T) {
	e := vmtest.New(t)
	first := create(t, e, vm.CreateRequest{Name: "dup", NoStart: true})
	_, err := e.Service.Create(ctx, vm.CreateRequest{Name: "dup"}, nil)
	if !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("duplicate create: %v, want ErrAlreadyExists", err)
	}
	vms, _ := e.Store.ListVMs(ctx)
	if len(vms) != 1 || vms[0].ID != first.ID {
		t.Fatalf("VMs after duplicate create: %+v", vms)
	}
	if n := len(e.VMM.Starts()); n != 0 {
		t.Fatalf("%d backend starts", n)
	}
	entries, _ := os.ReadDir(e.Service.VMsDir)
	if len(entries) != 1 {
		t.Fatalf("%d VM dirs, want 1", len(entries))
	}
}

func TestCreateBadRequest(t *testing.T) {
	tests := []struct {
		name string
		req  vm.CreateRequest
	}{
		{"bad name", vm.CreateRequest{Name: "Bad_Name"}},
		{"name too long", vm.CreateRequest{Name: strings.Repeat("x", 64)}},
		{"negative vcpu", vm.CreateRequest{VCPUs: -1}},
		{"too many vcpus", vm.CreateRequest{VCPUs: 65}},
		{"too little memory", vm.CreateRequest{MemoryMiB: 127}},
		{"negative memory", vm.CreateRequest{MemoryMiB: -512}},
		{"too much memory", vm.CreateRequest{MemoryMiB: 1<<20 + 1}},
		{"disk too small", vm.CreateRequest{DiskBytes: 64<<20 - 1}},
		{"negative disk", vm.CreateRequest{DiskBytes: -1}},
		{"disk too large", vm.CreateRequest{DiskBytes: 16<<40 + 1}},
		{"unparsable disk size", vm.CreateRequest{DiskSize: "lots"}},
		{"disk size too small", vm.CreateRequest{DiskSize: "1M"}},
		{"unparsable root size", vm.CreateRequest{RootSize: "lots"}},
		{"negative root", vm.CreateRequest{RootBytes: -1}},
		{"root too large", vm.CreateRequest{RootBytes: 16<<40 + 1}},
	}
	e := vmtest.New(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Service.Create(ctx, tt.req, nil)
			if !errors.Is(err, vm.ErrBadRequest) {
				t.Fatalf("Create(%+v) = %v, want ErrBadRequest", tt.req, err)
			}
		})
	}
	vms, _ := e.Store.ListVMs(ctx)
	if len(vms) != 0 || len(e.VMM.Starts()) != 0 {
		t.Fatalf("bad requests left %d VMs and %d starts", len(vms), len(e.VMM.Starts()))
	}
	// A size as a user writes it is accepted.
	if in := create(t, e, vm.CreateRequest{DiskSize: "2G", NoStart: true}); in.DiskBytes != 2<<30 {
		t.Fatalf("DiskSize 2G made a %d-byte disk", in.DiskBytes)
	}
	// The limits themselves are accepted.
	for _, req := range []vm.CreateRequest{
		{VCPUs: 1, MemoryMiB: 128, DiskBytes: 64 << 20, NoStart: true},
		{VCPUs: 64, MemoryMiB: 1 << 20, DiskBytes: 16 << 40, NoStart: true},
	} {
		create(t, e, req)
	}
}

// Check fills in the defaults and refuses a taken name; a checked request
// is created as checked.
func TestCheckThenCreate(t *testing.T) {
	e := vmtest.New(t)
	req := vm.CreateRequest{Name: "checked", DiskSize: "1G", NoStart: true}
	if err := e.Service.Check(ctx, &req); err != nil {
		t.Fatal(err)
	}
	if req.Image != vmtest.ImageName || req.VCPUs != 2 || req.MemoryMiB != 512 || req.DiskBytes != 1<<30 {
		t.Fatalf("defaults not filled in: %+v", req)
	}
	in := create(t, e, req)
	if in.Name != "checked" || in.DiskBytes != 1<<30 {
		t.Fatalf("created %+v", in.VM)
	}
	again := vm.CreateRequest{Name: "checked"}
	if err := e.Service.Check(ctx, &again); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("Check of a taken name = %v, want ErrAlreadyExists", err)
	}
}

func TestCreateConcurrent(t *testing.T) {
	e := vmtest.New(t)
	const n = 10
	var wg sync.WaitGroup
	infos := make([]vm.Info, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			infos[i], errs[i] = e.Service.Create(ctx, vm.CreateRequest{NAT: &[]bool{i%2 == 0}[0]}, nil)
		}()
	}
	wg.Wait()
	ips, macs, cids, names, taps := map[string]bool{}, map[string]bool{}, map[uint32]bool{}, map[string]bool{}, map[string]bool{}
	for i, in := range infos {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		if !in.Running {
			t.Errorf("%s not running", in.Name)
		}
		if !netip.MustParsePrefix(vmtest.CIDR).Contains(netip.MustParseAddr(in.IP)) {
			t.Errorf("ip %s outside the pool", in.IP)
		}
		ips[in.IP], macs[in.MAC], cids[in.GuestCID], names[in.Name], taps[in.Tap] = true, true, true, true, true
	}
	if len(ips) != n || len(macs) != n || len(cids) != n || len(names) != n || len(taps) != n {
		t.Fatalf("distinct ips %d macs %d cids %d names %d taps %d, want %d each", len(ips), len(macs), len(cids), len(names), len(taps), n)
	}
	if got := len(e.Links.Taps()); got != n {
		t.Fatalf("%d taps, want %d", got, n)
	}
}

func TestCreatePreflightFails(t *testing.T) {
	e := vmtest.New(t)
	errNoVMM := errors.New("the backend is not installed")
	e.Service.Backends[vmtest.Backend] = vmtest.PreflightVMM{VMM: e.VMM, Err: errNoVMM}
	_, err := e.Service.Create(ctx, vm.CreateRequest{Name: "pre"}, nil)
	if !errors.Is(err, errNoVMM) {
		t.Fatalf("Create = %v, want the preflight error", err)
	}
	vms, _ := e.Store.ListVMs(ctx)
	if len(vms) != 0 || len(e.VMM.Starts()) != 0 || vmtest.Exists(e.Service.VMsDir) || len(e.Links.Created()) != 0 {
		t.Fatalf("preflight failure left %d VMs, %d starts, vms dir %v, taps %v", len(vms), len(e.VMM.Starts()), vmtest.Exists(e.Service.VMsDir), e.Links.Created())
	}
	// The VMs dir check above proves no disks were made; so does the key.
	if vmtest.Exists(e.Service.Guest.KeyPath) {
		t.Fatal("ssh key created before preflight")
	}
}

func TestCreateUnknownBackend(t *testing.T) {
	e := vmtest.New(t)
	e.Service.Backend = "nope"
	if _, err := e.Service.Create(ctx, vm.CreateRequest{}, nil); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("Create with unknown backend = %v", err)
	}
}

func TestCreateDiskFailureLeavesNothing(t *testing.T) {
	e := vmtest.New(t)
	e.Disks.Err = errors.New("disk full")
	_, err := e.Service.Create(ctx, vm.CreateRequest{Name: "full"}, nil)
	if !errors.Is(err, e.Disks.Err) {
		t.Fatalf("Create = %v", err)
	}
	vms, _ := e.Store.ListVMs(ctx)
	entries, _ := os.ReadDir(e.Service.VMsDir)
	if len(vms) != 0 || len(entries) != 0 {
		t.Fatalf("left %d VMs and %d dirs", len(vms), len(entries))
	}
}

// assertCleanedUp checks that nothing of a run of v remains on the host.
func assertCleanedUp(t *testing.T, e *vmtest.Env, in vm.Info) {
	t.Helper()
	tap := tapOf(t, in.ID)
	if e.Links.Has(tap) {
		t.Errorf("tap %s still exists", tap)
	}
	if e.NAT.Enabled(in.IP) {
		t.Errorf("NAT still enabled for %s", in.IP)
	}
	if vmtest.Exists(e.RunDir(in.ID)) {
		t.Errorf("runtime dir %s still exists", e.RunDir(in.ID))
	}
	got, err := e.Service.Get(ctx, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Running || got.State == "running" || got.PID != 0 || got.Tap != "" {
		t.Errorf("VM still shown running: %+v", got)
	}
}

func TestStartBackendFailureRollsBack(t *testing.T) {
	e := vmtest.New(t)
	in := create(t, e, vm.CreateRequest{Name: "boom", NAT: &[]bool{true}[0], NoStart: true})
	errBoot := errors.New("vmm: no such file")
	e.VMM.FailStart(errBoot)
	_, err := e.Service.Start(ctx, "boom", nil)
	if !errors.Is(err, errBoot) {
		t.Fatalf("Start = %v", err)
	}
	tap := tapOf(t, in.ID)
	if c := e.Links.Created(); len(c) != 1 || c[0] != tap {
		t.Fatalf("taps created %v", c)
	}
	if d := e.NAT.Disabled(); len(d) != 1 || d[0].String() != in.IP {
		t.Fatalf("NAT disabled for %v, want %s", d, in.IP)
	}
	assertCleanedUp(t, e, in)
	if s := state(t, e, in.ID); s != "created" {
		t.Fatalf("state %q after failed start, want created", s)
	}
	if len(e.ReadyCalls()) != 0 || len(e.VMM.Kills()) != 0 {
		t.Fatal("Ready or Kill called without a process")
	}
	// A later start works: nothing is left in the way.
	e.VMM.FailStart(nil)
	if in, err := e.Service.Start(ctx, "boom", nil); err != nil || !in.Running {
		t.Fatalf("Start after rollback: %v", err)
	}
}

func TestReadyFailureRollsBackAndKills(t *testing.T) {
	e := vmtest.New(t)
	in := create(t, e, vm.CreateRequest{Name: "mute", NAT: &[]bool{true}[0], NoStart: true})
	errSSH := errors.New("ssh did not answer")
	var exitedSeen bool
	e.Service.Ready = func(_ context.Context, v store.VM, exited <-chan struct{}) error {
		select {
		case <-exited:
			exitedSeen = true
		default:
		}
		return errSSH
	}
	pid := e.VMM.NextPID()
	_, err := e.Service.Start(ctx, "mute", nil)
	if !errors.Is(err, errSSH) || !strings.Contains(err.Error(), "banger vm logs mute") {
		t.Fatalf("Start = %v", err)
	}
	if exitedSeen {
		t.Fatal("exited was closed while the process ran")
	}
	kills := e.VMM.Kills()
	if len(kills) != 1 || kills[0].PID != pid {
		t.Fatalf("kills %+v, want pid %d", kills, pid)
	}
	if e.VMM.Alive(pid) {
		t.Fatal("process still alive")
	}
	assertCleanedUp(t, e, in)
	if s := state(t, e, in.ID); s == "running" {
		t.Fatal("state running after failed start")
	}
}

func TestReadySeesProcessExit(t *testing.T) {
	e := vmtest.New(t)
	create(t, e, vm.CreateRequest{Name: "crash", NoStart: true})
	pid := e.VMM.NextPID()
	e.Service.Ready = func(ctx context.Context, _ store.VM, exited <-chan struct{}) error {
		e.VMM.Exit(pid)
		select {
		case <-exited:
			return errors.New("the VM's process exited during boot")
		case <-time.After(3 * time.Second):
			return errors.New("exited never closed")
		}
	}
	_, err := e.Service.Start(ctx, "crash", nil)
	if err == nil || !strings.Contains(err.Error(), "exited during boot") {
		t.Fatalf("Start = %v", err)
	}
}

func TestStopCleansUp(t *testing.T) {
	for _, force := range []bool{false, true} {
		t.Run(fmt.Sprintf("force=%v", force), func(t *testing.T) {
			e := vmtest.New(t)
			in := create(t, e, vm.CreateRequest{Name: "stopme", NAT: &[]bool{true}[0]})
			if !e.NAT.Enabled(in.IP) || !vmtest.Exists(e.RunDir(in.ID)) {
				t.Fatal("start did not set up NAT and runtime dir")
			}
			var out vm.Info
			var err error
			if force {
				out, err = e.Service.Kill(ctx, "stopme", nil)
			} else {
				out, err = e.Service.Stop(ctx, "stopme", nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			calls := e.VMM.Stops()
			if force {
				calls = e.VMM.Kills()
			}
			if len(calls) != 1 || calls[0].PID != in.PID {
				t.Fatalf("backend calls %+v, want pid %d", calls, in.PID)
			}
			if out.Running || out.State != "stopped" {
				t.Fatalf("returned %+v", out)
			}
			if s := state(t, e, in.ID); s != "stopped" {
				t.Fatalf("stored state %q", s)
			}
			assertCleanedUp(t, e, in)
			// The exit notification of the stopped run must not undo anything
			// later: start again and check the new run survives.
			again, err := e.Service.Start(ctx, "stopme", nil)
			if err != nil || !again.Running {
				t.Fatalf("restart: %v", err)
			}
			// Stopping a stopped VM is fine.
			if _, err := e.Service.Stop(ctx, "stopme", nil); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Service.Stop(ctx, "stopme", nil); err != nil {
				t.Fatalf("second stop: %v", err)
			}
		})
	}
}

func TestStopUnknownVM(t *testing.T) {
	e := vmtest.New(t)
	for name, op := range map[string]func(context.Context, string, progress.Func) (vm.Info, error){
		"stop": e.Service.Stop, "kill": e.Service.Kill, "start": e.Service.Start, "restart": e.Service.Restart,
	} {
		if _, err := op(ctx, "ghost", nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s unknown VM: %v, want ErrNotFound", name, err)
		}
	}
	if err := e.Service.Delete(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete unknown VM: %v", err)
	}
	if _, err := e.Service.Get(ctx, "ghost"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get unknown VM: %v", err)
	}
}

func TestProcessExitsByItself(t *testing.T) {
	e := vmtest.New(t)
	in := create(t, e, vm.CreateRequest{Name: "flaky", NAT: &[]bool{true}[0]})
	e.VMM.Exit(in.PID)
	vmtest.Eventually(t, "the VM is shown stopped", func() bool {
		got, err := e.Service.Get(ctx, in.ID)
		return err == nil && !got.Running && state(t, e, in.ID) == "stopped"
	})
	assertCleanedUp(t, e, in)
	if len(e.VMM.Stops())+len(e.VMM.Kills()) != 0 {
		t.Fatal("stop or kill called for a process that exited")
	}
}

// The exit of a stopped run may be noticed after the VM started again; it
// must not clean up the new run.
func TestRestartRaceKeepsNewRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := vmtest.New(t)
		in := create(t, e, vm.CreateRequest{Name: "race", NAT: &[]bool{true}[0]})
		e.VMM.HoldWait(in.PID) // the old run's exit is noticed late
		if _, err := e.Service.Stop(ctx, "race", nil); err != nil {
			t.Fatal(err)
		}
		again, err := e.Service.Start(ctx, "race", nil)
		if err != nil {
			t.Fatal(err)
		}
		if again.PID == in.PID {
			t.Fatal("same pid for the new run")
		}
		e.VMM.ReleaseWait(in.PID)
		synctest.Wait() // the old run's watcher has done whatever it does
		got, err := e.Service.Get(ctx, "race")
		if err != nil {
			t.Fatal(err)
		}
		if !got.Running || got.PID != again.PID || !e.Links.Has(again.Tap) || !e.NAT.Enabled(in.IP) ||
			!vmtest.Exists(filepath.Join(e.RunDir(in.ID), "handles.json")) || state(t, e, in.ID) != "running" {
			t.Fatalf("the old run's exit cleaned up the new run: running %v pid %d tap %v nat %v state %q",
				got.Running, got.PID, e.Links.Has(again.Tap), e.NAT.Enabled(in.IP), state(t, e, in.ID))
		}
		// The new run's own exit is still noticed.
		e.VMM.Exit(again.PID)
		synctest.Wait()
		if s := state(t, e, in.ID); s != "stopped" {
			t.Fatalf("state %q after the new run exited, want stopped", s)
		}
		assertCleanedUp(t, e, in)
	})
}

func TestRestart(t *testing.T) {
	e := vmtest.New(t)
	in := create(t, e, vm.CreateRequest{Name: "rs"})
	out, err := e.Service.Restart(ctx, "rs", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Running || out.PID == in.PID || e.VMM.Alive(in.PID) || !e.VMM.Alive(out.PID) {
		t.Fatalf("restart: old pid %d alive %v, new pid %d alive %v", in.PID, e.VMM.Alive(in.PID), out.PID, e.VMM.Alive(out.PID))
	}
}

func pinHostKey(t *testing.T, kh *sshkey.KnownHosts, alias string) {
	t.Helper()
	// Any key will do: a fresh one, made as the daemon makes its own.
	key, _, err := sshkey.Ensure(filepath.Join(t.TempDir(), "host_key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := kh.Forget(alias); err != nil { // the key pinned at create
		t.Fatal(err)
	}
	if err := kh.Callback(alias)("x:22", &net.TCPAddr{}, key.PublicKey()); err != nil {
		t.Fatal(err)
	}
}

func TestDelete(t *testing.T) {
	e := vmtest.New(t)
	doomed := create(t, e, vm.CreateRequest{Name: "doomed", NAT: &[]bool{true}[0]})
	keep := create(t, e, vm.CreateRequest{Name: "keep", NoStart: true})
	pinHostKey(t, e.Service.Guest.KnownHosts, sshkey.Alias(doomed.ID))
	pinHostKey(t, e.Service.Guest.KnownHosts, sshkey.Alias(keep.ID))

	if err := e.Service.Delete(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	if kills := e.VMM.Kills(); len(kills) != 1 || kills[0].PID != doomed.PID {
		t.Fatalf("kills %+v", kills)
	}
	if _, err := e.Store.GetVM(ctx, doomed.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("row still there: %v", err)
	}
	if vmtest.Exists(e.VMDir(doomed.ID)) || vmtest.Exists(e.RunDir(doomed.ID)) {
		t.Fatal("VM files still there")
	}
	if e.Links.Has(doomed.Tap) || e.NAT.Enabled(doomed.IP) {
		t.Fatal("tap or NAT still there")
	}
	b, err := os.ReadFile(e.Service.Guest.KnownHosts.Path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), sshkey.Alias(doomed.ID)) || !strings.Contains(string(b), sshkey.Alias(keep.ID)) {
		t.Fatalf("known_hosts after delete:\n%s", b)
	}
	if !vmtest.Exists(e.VMDir(keep.ID)) {
		t.Fatal("other VM's files removed")
	}
	// The name and address are free again.
	again := create(t, e, vm.CreateRequest{Name: "doomed"})
	if again.IP != doomed.IP {
		t.Fatalf("address not reused: %s, want %s", again.IP, doomed.IP)
	}
}

func TestPruneDeletesOnlyNonRunning(t *testing.T) {
	e := vmtest.New(t)
	running := create(t, e, vm.CreateRequest{Name: "running"})
	create(t, e, vm.CreateRequest{Name: "created", NoStart: true})
	create(t, e, vm.CreateRequest{Name: "stopped"})
	if _, err := e.Service.Stop(ctx, "stopped", nil); err != nil {
		t.Fatal(err)
	}
	deleted, err := e.Service.Prune(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(deleted, ",") != "created,stopped" {
		t.Fatalf("pruned %v, want [created stopped]", deleted)
	}
	vms, _ := e.Store.ListVMs(ctx)
	if len(vms) != 1 || vms[0].ID != running.ID {
		t.Fatalf("left %+v", vms)
	}
	if !e.VMM.Alive(running.PID) || len(e.VMM.Kills()) != 0 {
		t.Fatal("running VM touched")
	}
	if deleted, err := e.Service.Prune(ctx); err != nil || len(deleted) != 0 {
		t.Fatalf("second prune: %v %v", deleted, err)
	}
}

func TestTarget(t *testing.T) {
	e := vmtest.New(t)
	in := create(t, e, vm.CreateRequest{Name: "tgt"})
	create(t, e, vm.CreateRequest{Name: "off", NoStart: true})
	tg, err := e.Service.Target(ctx, "tgt")
	if err != nil {
		t.Fatal(err)
	}
	want := vm.SSHTarget{Name: "tgt", Host: in.IP, KeyPath: e.Service.Guest.KeyPath, KnownHosts: e.Service.Guest.KnownHosts.Path, Alias: sshkey.Alias(in.ID)}
	if tg != want {
		t.Fatalf("Target = %+v, want %+v", tg, want)
	}
	if _, err := e.Service.Target(ctx, "off"); !errors.Is(err, vm.ErrBadRequest) {
		t.Fatalf("Target of stopped VM = %v, want ErrBadRequest", err)
	}
}

func TestReconcile(t *testing.T) {
	e := vmtest.New(t)
	alive := create(t, e, vm.CreateRequest{Name: "alive", NAT: &[]bool{true}[0]})
	gone := create(t, e, vm.CreateRequest{Name: "gone", NAT: &[]bool{true}[0]})
	noHandles := create(t, e, vm.CreateRequest{Name: "nohandles", NoStart: true})
	if err := e.Store.UpdateVMState(ctx, noHandles.ID, "running"); err != nil {
		t.Fatal(err)
	}
	// The daemon dies. Meanwhile gone's process exits (the dead daemon
	// never notices), and leftovers accumulate.
	e.VMM.HoldWait(gone.PID)
	e.VMM.Exit(gone.PID)
	leftoverTap := network.TapPrefix + "deadbeef"
	if err := e.Links.EnsureBridge(ctx, "other", netip.Prefix{}); err != nil {
		t.Fatal(err)
	}
	foreignTap := network.TapPrefix + "f0f0f0f0" // another daemon's running VM
	for _, tap := range []string{leftoverTap, "eth7", foreignTap} {
		if err := e.Links.CreateTap(ctx, tap, "other"); err != nil {
			t.Fatal(err)
		}
	}
	e.Links.Busy(foreignTap)
	strayRun := filepath.Join(e.Service.RuntimeDir, "0123456789ab")
	hidden := filepath.Join(e.Service.RuntimeDir, ".lock")
	for _, d := range []string{strayRun, hidden} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}

	svc := e.NewService()
	if err := svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}

	got, err := svc.Get(ctx, "alive")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Running || got.PID != alive.PID || got.Tap != alive.Tap || got.State != "running" {
		t.Fatalf("alive not adopted: %+v", got)
	}
	if !e.Links.Has(alive.Tap) || !e.NAT.Enabled(alive.IP) || !vmtest.Exists(e.RunDir(alive.ID)) {
		t.Fatal("adopted VM's tap, NAT or runtime dir removed")
	}

	gotGone, err := svc.Get(ctx, "gone")
	if err != nil {
		t.Fatal(err)
	}
	if gotGone.Running || state(t, e, gone.ID) != "stopped" {
		t.Fatalf("gone: %+v, stored %q", gotGone, state(t, e, gone.ID))
	}
	if e.Links.Has(gone.Tap) || e.NAT.Enabled(gone.IP) || vmtest.Exists(e.RunDir(gone.ID)) {
		t.Fatal("gone's tap, NAT or runtime dir left")
	}
	if s := state(t, e, noHandles.ID); s != "stopped" {
		t.Fatalf("VM without handles: state %q, want stopped", s)
	}
	if e.Links.Has(leftoverTap) {
		t.Fatal("leftover tap not deleted")
	}
	if !e.Links.Has("eth7") {
		t.Fatal("a tap without our prefix was deleted")
	}
	if !e.Links.Has(foreignTap) {
		t.Fatal("a tap held open by another process was deleted")
	}
	if vmtest.Exists(strayRun) || !vmtest.Exists(hidden) {
		t.Fatalf("stray runtime dir exists %v, hidden dir exists %v", vmtest.Exists(strayRun), vmtest.Exists(hidden))
	}

	// The adopted VM is watched: its exit is noticed by the new service.
	e.VMM.Exit(alive.PID)
	vmtest.Eventually(t, "the adopted VM's exit is noticed", func() bool { return state(t, e, alive.ID) == "stopped" })
	vmtest.Eventually(t, "the adopted VM is cleaned up", func() bool {
		return !e.Links.Has(alive.Tap) && !e.NAT.Enabled(alive.IP) && !vmtest.Exists(e.RunDir(alive.ID))
	})
	// And it can be stopped and started by the new service.
	if _, err := svc.Start(ctx, "alive", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Stop(ctx, "alive", nil); err != nil {
		t.Fatal(err)
	}
}

func TestReconcileAdoptedVMCanBeStopped(t *testing.T) {
	e := vmtest.New(t)
	in := create(t, e, vm.CreateRequest{Name: "adoptee", NAT: &[]bool{true}[0]})
	svc := e.NewService()
	if err := svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	out, err := svc.Stop(ctx, "adoptee", nil)
	if err != nil {
		t.Fatal(err)
	}
	if stops := e.VMM.Stops(); len(stops) != 1 || stops[0] != (vmm.Handle{Backend: vmtest.Backend, PID: in.PID, StartTime: uint64(in.PID) * 7, Control: filepath.Join(e.RunDir(in.ID), "control.sock"), Accel: "fake"}) {
		t.Fatalf("stop got handle %+v; the handle did not survive handles.json", stops)
	}
	if out.Running || e.Links.Has(in.Tap) || e.NAT.Enabled(in.IP) {
		t.Fatalf("adopted VM not cleaned up on stop: %+v", out)
	}
}

func TestConsoleLog(t *testing.T) {
	e := vmtest.New(t)
	in := create(t, e, vm.CreateRequest{Name: "con", NoStart: true})
	p, err := e.Service.ConsoleLog(ctx, "con")
	if err != nil || p != filepath.Join(e.VMDir(in.ID), "console.log") {
		t.Fatalf("ConsoleLog = %q, %v", p, err)
	}
	if _, err := e.Service.ConsoleLog(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ConsoleLog of unknown VM: %v", err)
	}
}

// When the boot of a new VM fails the VM is kept (the error points at its
// console log), in state created and free of runtime leftovers, and it can
// be started later.
func TestCreateWhoseBootFailsKeepsVM(t *testing.T) {
	e := vmtest.New(t)
	e.Service.Ready = func(context.Context, store.VM, <-chan struct{}) error { return errors.New("no ssh") }
	_, err := e.Service.Create(ctx, vm.CreateRequest{Name: "sulky", NAT: &[]bool{true}[0]}, nil)
	if err == nil || !strings.Contains(err.Error(), "banger vm logs sulky") {
		t.Fatalf("Create = %v", err)
	}
	in, err := e.Service.Get(ctx, "sulky")
	if err != nil {
		t.Fatalf("VM gone after failed boot: %v", err)
	}
	if in.State != "created" {
		t.Fatalf("state %q", in.State)
	}
	assertCleanedUp(t, e, in)
	if p, err := e.Service.ConsoleLog(ctx, "sulky"); err != nil || filepath.Dir(p) != e.VMDir(in.ID) {
		t.Fatalf("ConsoleLog = %q, %v", p, err)
	}
	e.Service.Ready = func(context.Context, store.VM, <-chan struct{}) error { return nil }
	if in, err := e.Service.Start(ctx, "sulky", nil); err != nil || !in.Running {
		t.Fatalf("Start after failed boot: %v", err)
	}
}

func TestNATDefaultAppliesWhenTheRequestIsSilent(t *testing.T) {
	e := vmtest.New(t)
	e.Service.NATDefault = true
	no := false
	a := create(t, e, vm.CreateRequest{Name: "by-default", NoStart: true})
	b := create(t, e, vm.CreateRequest{Name: "said-no", NoStart: true, NAT: &no})
	if !a.NAT || b.NAT {
		t.Fatalf("nat_default=true: silent request NAT=%v (want true), explicit false NAT=%v (want false)", a.NAT, b.NAT)
	}
}

func TestSetChangesSpecWhileStoppedAndNATLive(t *testing.T) {
	e := vmtest.New(t)
	ctx := context.Background()
	in := create(t, e, vm.CreateRequest{Name: "tune", NoStart: true})
	four, big := 4, 2048
	got, err := e.Service.Set(ctx, "tune", vm.SetRequest{VCPUs: &four, MemoryMiB: &big})
	if err != nil || got.VCPUs != 4 || got.MemoryMiB != 2048 {
		t.Fatalf("set while stopped: %+v, %v", got.VM, err)
	}
	zero := 0
	if _, err := e.Service.Set(ctx, "tune", vm.SetRequest{VCPUs: &zero}); !errors.Is(err, vm.ErrBadRequest) {
		t.Fatalf("vcpu 0: %v", err)
	}
	if _, err := e.Service.Start(ctx, "tune", nil); err != nil {
		t.Fatal(err)
	}
	if starts := e.VMM.Starts(); starts[len(starts)-1].VCPUs != 4 || starts[len(starts)-1].MemoryMiB != 2048 {
		t.Fatalf("the new spec was not used at start: %+v", starts[len(starts)-1])
	}
	if _, err := e.Service.Set(ctx, "tune", vm.SetRequest{VCPUs: &four}); !errors.Is(err, vm.ErrBadRequest) {
		t.Fatalf("vcpu change while running: %v", err)
	}
	on := true
	got, err = e.Service.Set(ctx, "tune", vm.SetRequest{NAT: &on})
	if err != nil || !got.NAT {
		t.Fatalf("nat on while running: %+v, %v", got.VM, err)
	}
	if !e.NAT.Enabled(in.IP) {
		t.Fatal("NAT rules were not installed for the running VM")
	}
}
