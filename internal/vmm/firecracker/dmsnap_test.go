package firecracker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/vmm"
	"banger/internal/vmm/rootdisk"
)

// fakeDM stands in for losetup and dmsetup: loop devices are files under
// sys/block/loopN/loop/backing_file, as the kernel shows them, and mappings
// are files under dev/mapper, so that the fake firecracker finds its drive.
type fakeDM struct {
	t       *testing.T
	devRoot string
	sysRoot string
	failOn  string // argv[0]+" "+argv[1] to fail, e.g. "dmsetup create"
	failOut string

	mu    sync.Mutex
	calls []string
}

func newFakeDM(t *testing.T) *fakeDM {
	base := t.TempDir()
	d := &fakeDM{t: t, devRoot: filepath.Join(base, "dev"), sysRoot: filepath.Join(base, "sys")}
	must(t, os.MkdirAll(filepath.Join(d.devRoot, "mapper"), 0o755))
	must(t, os.MkdirAll(filepath.Join(d.sysRoot, "block"), 0o755))
	must(t, os.WriteFile(filepath.Join(d.devRoot, "mapper", "control"), nil, 0o600))
	must(t, os.WriteFile(filepath.Join(d.devRoot, "loop-control"), nil, 0o600))
	return d
}

func (d *fakeDM) prep() rootdisk.Host {
	return rootdisk.Host{LookPath: func(s string) (string, error) { return "/usr/sbin/" + s, nil },
		DevRoot: d.devRoot, SysRoot: d.sysRoot, Clone: func(dst, src *os.File) error { return unix.EOPNOTSUPP }, Run: d.run}
}

// backend is a Firecracker whose commands and host paths are the fake's.
func (d *fakeDM) backend(o Options) *Firecracker {
	o.Run = d.run
	f := New(o)
	f.disks = d.prep()
	return f
}

func (d *fakeDM) backing(n int) string {
	return filepath.Join(d.sysRoot, "block", fmt.Sprintf("loop%d", n), "loop", "backing_file")
}

func (d *fakeDM) run(ctx context.Context, argv []string) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, strings.Join(argv, " | "))
	fail := errors.New("exit status 1")
	if len(argv) > 1 && argv[0]+" "+argv[1] == d.failOn {
		return []byte(d.failOut), fail
	}
	switch {
	case argv[0] == "losetup" && argv[1] == "--find":
		for n := 0; ; n++ {
			if _, err := os.Stat(d.backing(n)); err == nil {
				continue
			}
			must(d.t, os.MkdirAll(filepath.Dir(d.backing(n)), 0o755))
			must(d.t, os.WriteFile(d.backing(n), []byte(argv[len(argv)-1]+"\n"), 0o644))
			return fmt.Appendf(nil, "/dev/loop%d\n", n), nil
		}
	case argv[0] == "losetup" && argv[1] == "-d":
		p := filepath.Join(d.sysRoot, "block", filepath.Base(argv[2]), "loop")
		if _, err := os.Stat(p); err != nil {
			return []byte("losetup: " + argv[2] + ": detach failed: No such device or address\n"), fail
		}
		must(d.t, os.RemoveAll(p))
		return nil, nil
	case argv[0] == "dmsetup" && argv[1] == "create":
		p := filepath.Join(d.devRoot, "mapper", argv[2])
		if _, err := os.Stat(p); err == nil {
			return []byte("device-mapper: create ioctl on " + argv[2] + " failed: Device or resource busy\n"), fail
		}
		must(d.t, os.WriteFile(p, nil, 0o600))
		return nil, nil
	case argv[0] == "dmsetup" && argv[1] == "remove":
		p := filepath.Join(d.devRoot, "mapper", argv[len(argv)-1])
		if err := os.Remove(p); err != nil {
			return []byte("Device " + argv[len(argv)-1] + " not found\nCommand failed.\n"), fail
		}
		return nil, nil
	}
	d.t.Errorf("unexpected command %q", argv)
	return nil, fail
}

// take returns the commands run since the last take.
func (d *fakeDM) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.calls
	d.calls = nil
	return c
}

// attached lists the fake's attached loop devices.
func (d *fakeDM) attached() []string {
	m, _ := filepath.Glob(filepath.Join(d.sysRoot, "block", "*", "loop", "backing_file"))
	return m
}

func wantCalls(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("commands\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestPrepareRootDiskChoosesMethod(t *testing.T) {
	d := newFakeDM(t)
	fc := d.backend(Options{})
	img := rawImage(t, t.TempDir())
	ctx := context.Background()

	dir := t.TempDir()
	disk, err := fc.PrepareRootDisk(ctx, img, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if disk.Path != filepath.Join(dir, rootdisk.SnapshotMarkerName) || disk.Format != "raw" {
		t.Fatalf("disk = %+v, want the marker", disk)
	}
	assertDir(t, dir, "root.cow", "root.dm", "root.origin")
	if a, b := statT(t, img), statT(t, filepath.Join(dir, "root.origin")); a.Ino != b.Ino {
		t.Error("root.origin is not a hard link of the image")
	}
	cow := statT(t, filepath.Join(dir, "root.cow"))
	if want := int64(20<<20 + (20<<20)/128 + 1<<20); cow.Size != want || cow.Blocks != 0 {
		t.Errorf("root.cow is %d bytes, %d blocks; want %d bytes, sparse", cow.Size, cow.Blocks, want)
	}
	if b, _ := os.ReadFile(disk.Path); string(b) != "{\n \"method\": \"dm-snapshot\",\n \"origin\": \"root.origin\",\n \"cow\": \"root.cow\",\n \"sectors\": 40960,\n \"chunk_sectors\": 8\n}" {
		t.Errorf("marker = %s", b)
	}
	if len(d.take()) != 0 {
		t.Error("create ran commands; only Start should")
	}

	// Without device-mapper: a copy at root.raw.
	nodm := d.prep()
	nodm.DevRoot = t.TempDir()
	fc.disks = nodm
	dir = t.TempDir()
	if disk, err = fc.PrepareRootDisk(ctx, img, dir, 0); err != nil {
		t.Fatal(err)
	}
	if disk.Path != filepath.Join(dir, RootDiskName) {
		t.Fatalf("without dm: disk = %+v", disk)
	}
	assertDir(t, dir, "root.raw")

	// A disk larger than its image: a copy extended with a hole, even
	// where device-mapper is usable.
	fc.disks = d.prep()
	dir = t.TempDir()
	if disk, err = fc.PrepareRootDisk(ctx, img, dir, 64<<20); err != nil {
		t.Fatal(err)
	}
	assertDir(t, dir, "root.raw")
	if st := statT(t, disk.Path); disk.Path != filepath.Join(dir, RootDiskName) || st.Size != 64<<20 || st.Blocks*512 > 20<<20 {
		t.Errorf("grown disk %+v: %d bytes, %d allocated; want 64 MiB, the room a hole", disk, st.Size, st.Blocks*512)
	}

	// An image that is not whole sectors: refused, nothing left.
	fc.disks = d.prep()
	odd := filepath.Join(t.TempDir(), "odd.raw")
	must(t, os.WriteFile(odd, []byte("not a sector"), 0o644))
	dir = t.TempDir()
	if _, err := fc.PrepareRootDisk(ctx, odd, dir, 0); err == nil || !strings.Contains(err.Error(), "multiple of 512") {
		t.Fatalf("odd image: err = %v", err)
	}
	assertDir(t, dir)
}

func TestDMProbeDecisions(t *testing.T) {
	d := newFakeDM(t)
	dir := t.TempDir()
	if got := d.prep().Probe(dir); !strings.HasPrefix(got, "dm-snapshot (") {
		t.Errorf("probe with everything = %q", got)
	}
	for _, tt := range []struct {
		name string
		mod  func(*rootdisk.Host)
		want string
	}{
		{"no dmsetup", func(p *rootdisk.Host) {
			p.LookPath = func(s string) (string, error) {
				if s == "dmsetup" {
					return "", errors.New("not found")
				}
				return s, nil
			}
		}, "dmsetup not installed"},
		{"no losetup", func(p *rootdisk.Host) {
			p.LookPath = func(s string) (string, error) {
				if s == "losetup" {
					return "", errors.New("not found")
				}
				return s, nil
			}
		}, "losetup not installed"},
		{"no control", func(p *rootdisk.Host) { p.DevRoot = t.TempDir() }, "mapper/control not usable"},
	} {
		p := d.prep()
		tt.mod(&p)
		got := p.Probe(dir)
		if !strings.HasPrefix(got, "sparse-copy (dm-snapshot not usable: ") || !strings.Contains(got, tt.want) {
			t.Errorf("%s: probe = %q", tt.name, got)
		}
	}
	must(t, os.Remove(filepath.Join(d.devRoot, "loop-control")))
	if ok, why := d.prep().DMUsable(); ok || !strings.Contains(why, "loop-control not usable") {
		t.Errorf("without loop-control: %v, %q", ok, why)
	}
}

// dmConfig is testConfig with a dm-snapshot root disk made by fc.
func dmConfig(t *testing.T, fc *Firecracker) (vmm.Config, string) {
	t.Helper()
	base := t.TempDir()
	cfg := testConfig(t, base)
	img := rawImage(t, base)
	vmDir := filepath.Join(base, "vm")
	must(t, os.MkdirAll(vmDir, 0o700))
	disk, err := fc.PrepareRootDisk(context.Background(), img, vmDir, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Disks[0] = disk
	return cfg, vmDir
}

func TestStartStopDMSnapshot(t *testing.T) {
	exe, record := fakeEnv(t, "")
	d := newFakeDM(t)
	fc := d.backend(Options{Binary: exe})
	cfg, vmDir := dmConfig(t, fc)
	ctx := context.Background()
	origin, cow := filepath.Join(vmDir, "root.origin"), filepath.Join(vmDir, "root.cow")

	h, err := fc.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	wantCalls(t, d.take(), []string{
		"losetup | --find | --show | --read-only | " + origin,
		"losetup | --find | --show | " + cow,
		"dmsetup | create | banger-vm1 | --table | 0 40960 snapshot /dev/loop0 /dev/loop1 P 8",
	})
	dev := filepath.Join(d.devRoot, "mapper", "banger-vm1")
	ps := puts(t, loadSpec(t), readRecord(t, record))
	wantBody(t, ps[5], map[string]any{"drive_id": "rootfs", "path_on_host": dev, "is_root_device": true, "is_read_only": false})
	st, err := loadState(cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.DM == nil || st.DM.Name != "banger-vm1" || len(st.DM.Loops) != 2 ||
		st.DM.Loops[0] != (rootdisk.LoopRecord{Dev: "/dev/loop0", File: origin}) || st.DM.Loops[1] != (rootdisk.LoopRecord{Dev: "/dev/loop1", File: cow}) {
		t.Fatalf("state dm = %+v", st.DM)
	}

	if err := fc.Stop(ctx, h, 5*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	wantCalls(t, d.take(), []string{
		"dmsetup | remove | --retry | banger-vm1",
		"losetup | -d | /dev/loop1",
		"losetup | -d | /dev/loop0",
	})
	if a := d.attached(); len(a) != 0 {
		t.Errorf("loops left attached: %v", a)
	}
	assertDir(t, filepath.Join(d.devRoot, "mapper"), "control")
	assertDir(t, cfg.Dir, "firecracker.log")
	assertDir(t, vmDir, "root.cow", "root.dm", "root.origin") // the disk stays for the next boot
}

// A restarted daemon adopts the VM and cleans up from the state file alone.
func TestKillAfterRestartTearsDownDM(t *testing.T) {
	exe, _ := fakeEnv(t, "")
	d := newFakeDM(t)
	fc := d.backend(Options{Binary: exe})
	cfg, _ := dmConfig(t, fc)
	ctx := context.Background()
	h, err := fc.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	d.take()
	restarted := d.backend(Options{Binary: exe})
	if err := restarted.Kill(ctx, h); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	// Reap the child the first backend started.
	_ = fc.Wait(ctx, h)
	wantCalls(t, d.take(), []string{
		"dmsetup | remove | --retry | banger-vm1",
		"losetup | -d | /dev/loop1",
		"losetup | -d | /dev/loop0",
	})
	if a := d.attached(); len(a) != 0 {
		t.Errorf("loops left attached: %v", a)
	}
}

func TestStartDMCreateFailsRollsBack(t *testing.T) {
	exe, record := fakeEnv(t, "")
	d := newFakeDM(t)
	d.failOn, d.failOut = "dmsetup create", "device-mapper: reload ioctl on banger-vm1 failed: Invalid argument\n"
	fc := d.backend(Options{Binary: exe})
	cfg, vmDir := dmConfig(t, fc)
	_, err := fc.Start(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "create device-mapper snapshot banger-vm1") || !strings.Contains(err.Error(), "Invalid argument") {
		t.Fatalf("Start error = %v", err)
	}
	origin, cow := filepath.Join(vmDir, "root.origin"), filepath.Join(vmDir, "root.cow")
	wantCalls(t, d.take(), []string{
		"losetup | --find | --show | --read-only | " + origin,
		"losetup | --find | --show | " + cow,
		"dmsetup | create | banger-vm1 | --table | 0 40960 snapshot /dev/loop0 /dev/loop1 P 8",
		// Rollback, last first; the mapping was never made, which is fine.
		"dmsetup | remove | --retry | banger-vm1",
		"losetup | -d | /dev/loop1",
		"losetup | -d | /dev/loop0",
	})
	if a := d.attached(); len(a) != 0 {
		t.Errorf("loops left attached: %v", a)
	}
	assertDir(t, filepath.Join(d.devRoot, "mapper"), "control")
	assertDir(t, filepath.Dir(cfg.Dir)) // no runtime dir, no state file
	if _, err := os.Stat(record); !errors.Is(err, os.ErrNotExist) {
		t.Error("firecracker was started although the root disk failed")
	}
	assertDir(t, vmDir, "root.cow", "root.dm", "root.origin")
}

func TestDMTeardownIdempotent(t *testing.T) {
	d := newFakeDM(t)
	o := d.prep()
	ctx := context.Background()
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "a"), nil, 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "b"), nil, 0o600))
	a, _ := d.run(ctx, []string{"losetup", "--find", "--show", "--read-only", filepath.Join(dir, "a")})
	b, _ := d.run(ctx, []string{"losetup", "--find", "--show", filepath.Join(dir, "b")})
	_, _ = d.run(ctx, []string{"dmsetup", "create", "banger-x", "--table", "t"})
	d.take()
	st := &rootdisk.DMState{Name: "banger-x", Loops: []rootdisk.LoopRecord{{Dev: strings.TrimSpace(string(a)), File: filepath.Join(dir, "a")}, {Dev: strings.TrimSpace(string(b)), File: filepath.Join(dir, "b")}}}
	again := *st

	if err := o.Teardown(ctx, st); err != nil {
		t.Fatal(err)
	}
	if st.Name != "" || len(st.Loops) != 0 {
		t.Errorf("state after teardown = %+v", st)
	}
	d.take()
	// Everything is gone already: no error, and no losetup -d of a loop
	// device that is not attached.
	if err := o.Teardown(ctx, &again); err != nil {
		t.Fatalf("second teardown: %v", err)
	}
	wantCalls(t, d.take(), []string{"dmsetup | remove | --retry | banger-x"})

	// A loop device reused by someone else is left alone.
	other, _ := d.run(ctx, []string{"losetup", "--find", "--show", "/somebody/else.img"})
	d.take()
	reused := &rootdisk.DMState{Loops: []rootdisk.LoopRecord{{Dev: strings.TrimSpace(string(other)), File: filepath.Join(dir, "a")}}}
	if err := o.Teardown(ctx, reused); err != nil {
		t.Fatal(err)
	}
	wantCalls(t, d.take(), nil)
	if len(d.attached()) != 1 {
		t.Error("someone else's loop device was detached")
	}
}

// A busy mapping is kept in the state file, and the next Start removes it
// before making a new one.
func TestDMTeardownFailureIsKept(t *testing.T) {
	exe, _ := fakeEnv(t, "")
	d := newFakeDM(t)
	fc := d.backend(Options{Binary: exe})
	cfg, _ := dmConfig(t, fc)
	ctx := context.Background()
	h, err := fc.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	d.failOn, d.failOut = "dmsetup remove", "device-mapper: remove ioctl on banger-vm1 failed: Device or resource busy\n"
	if err := fc.Kill(ctx, h); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	st, err := loadState(cfg.Dir)
	if err != nil {
		t.Fatalf("state file gone though the snapshot is still there: %v", err)
	}
	if st.DM == nil || st.DM.Name != "banger-vm1" || len(st.DM.Loops) != 2 || st.Jail != "" || len(st.Remove) != 0 {
		t.Fatalf("kept state = %+v, dm %+v", st, st.DM)
	}
	d.failOn = ""
	d.take()
	h, err = fc.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("second Start: %v", err)
	}
	defer fc.Kill(ctx, h)
	wantCalls(t, d.take(), []string{
		"dmsetup | remove | --retry | banger-vm1",
		"losetup | -d | /dev/loop1",
		"losetup | -d | /dev/loop0",
		"losetup | --find | --show | --read-only | " + st.DM.Loops[0].File,
		"losetup | --find | --show | " + st.DM.Loops[1].File,
		"dmsetup | create | banger-vm1 | --table | 0 40960 snapshot /dev/loop0 /dev/loop1 P 8",
	})
}

// Under the jailer the mapping is recreated in the chroot as a block device
// node owned by the VM's uid.
func TestJailedDMSnapshot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the jail makes device nodes: needs root")
	}
	exe, record := fakeEnv(t, "")
	d := newFakeDM(t)
	base := t.TempDir()
	chroot := filepath.Join(base, "jail")
	fc := d.backend(Options{Binary: exe, JailerBinary: exe, JailerEnabled: true, ChrootBase: chroot, UIDBase: 50000})
	cfg, _ := dmConfig(t, fc)
	// dmsetup makes a block device node where the fake makes a file: replace
	// it by a node (7:0, loop0's numbers; nothing opens it).
	run := fc.run
	fc.run = func(ctx context.Context, argv []string) ([]byte, error) {
		out, err := run(ctx, argv)
		if err == nil && argv[0] == "dmsetup" && argv[1] == "create" {
			p := filepath.Join(d.devRoot, "mapper", argv[2])
			_ = os.Remove(p)
			if err := unix.Mknod(p, unix.S_IFBLK|0o600, int(unix.Mkdev(7, 0))); err != nil {
				t.Skipf("cannot make a block device node here: %v", err)
			}
		}
		return out, err
	}
	ctx := context.Background()
	h, err := fc.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	root := JailRoot(chroot, exe, cfg.ID)
	ps := puts(t, loadSpec(t), readRecord(t, record))
	wantBody(t, ps[5], map[string]any{"path_on_host": "/rootfs", "is_root_device": true})
	var st syscall.Stat_t
	must(t, syscall.Stat(filepath.Join(root, "rootfs"), &st))
	if st.Mode&syscall.S_IFMT != syscall.S_IFBLK || st.Rdev != unix.Mkdev(7, 0) || st.Uid != 50007 {
		t.Errorf("rootfs in the jail: mode %o rdev %d uid %d; want a block device 7:0 owned by 50007", st.Mode, st.Rdev, st.Uid)
	}
	if err := fc.Kill(ctx, h); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if a := d.attached(); len(a) != 0 {
		t.Errorf("loops left attached: %v", a)
	}
	assertDir(t, filepath.Join(d.devRoot, "mapper"), "control")
}

// rawImage is a sparse 20 MiB image file in dir.
func rawImage(t *testing.T, dir string) string {
	p := filepath.Join(dir, "rootfs.ext4")
	f, err := os.Create(p)
	must(t, err)
	must(t, f.Truncate(20<<20))
	must(t, f.Close())
	return p
}
