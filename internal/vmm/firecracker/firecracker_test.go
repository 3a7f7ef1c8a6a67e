package firecracker

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/poll"
	"banger/internal/vmm"
	"banger/internal/vmm/rootdisk"
)

// fakeEnv makes this test binary act as firecracker for Start and returns
// its path and the file it records requests in.
func fakeEnv(t *testing.T, mode string) (exe, record string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	record = filepath.Join(t.TempDir(), "requests.jsonl")
	t.Setenv("BANGER_FAKE_FC", "1")
	t.Setenv("BANGER_FAKE_FC_MODE", mode)
	t.Setenv("BANGER_FAKE_FC_RECORD", record)
	return exe, record
}

// testConfig builds a VM config whose files exist under a temp dir. The
// runtime dir does not exist yet, as for a fresh VM.
func testConfig(t *testing.T, base string) vmm.Config {
	t.Helper()
	img := filepath.Join(base, "images")
	must(t, os.MkdirAll(img, 0o755))
	for _, f := range []string{"vmlinux", "initrd.img", "root.raw", "work.ext4"} {
		must(t, os.WriteFile(filepath.Join(img, f), []byte(f), 0o644))
	}
	run := filepath.Join(base, "run", "vm1")
	return vmm.Config{
		ID:      "vm1",
		Kernel:  filepath.Join(img, "vmlinux"),
		Initrd:  filepath.Join(img, "initrd.img"),
		Cmdline: "console=ttyS0 root=/dev/vda rw",
		Disks: []vmm.Disk{
			{Path: filepath.Join(img, "root.raw"), Format: "raw"},
			{Path: filepath.Join(img, "work.ext4"), Format: "raw"},
		},
		NICs:        []vmm.NIC{{Tap: "tap-vm1", MAC: "52:54:00:12:34:56"}},
		VCPUs:       2,
		MemoryMiB:   512,
		Dir:         run,
		ConsoleLog:  filepath.Join(base, "console.log"),
		AgentSocket: filepath.Join(run, "agent.sock"),
		GuestCID:    7,
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// puts returns the PUT requests in order, each validated against the spec.
func puts(t *testing.T, s *spec, recs []recorded) []recorded {
	t.Helper()
	var out []recorded
	for _, r := range recs {
		if err := s.validateRequest(r.Method, r.Path, r.Body); err != nil {
			t.Errorf("request does not conform to the v%s spec: %v", SpecVersion, err)
		}
		if r.Method == "PUT" {
			out = append(out, r)
		}
	}
	return out
}

func bodyOf(t *testing.T, r recorded) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%s %s: %v", r.Method, r.Path, err)
	}
	return m
}

func wantBody(t *testing.T, r recorded, want map[string]any) {
	t.Helper()
	got := bodyOf(t, r)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s %s: %s = %v, want %v (body %s)", r.Method, r.Path, k, got[k], v, r.Body)
		}
	}
}

func paths(rs []recorded) []string {
	var p []string
	for _, r := range rs {
		p = append(p, r.Path)
	}
	return p
}

var wantSequence = []string{"/logger", "/metrics", "/serial", "/boot-source", "/machine-config",
	"/drives/rootfs", "/drives/disk1", "/network-interfaces/eth0", "/vsock", "/actions"}

func TestStartStopConformance(t *testing.T) {
	exe, record := fakeEnv(t, "")
	s := loadSpec(t)
	cfg := testConfig(t, t.TempDir())
	fc := New(Options{Binary: exe})
	ctx := context.Background()

	h, err := fc.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	if h.Backend != "firecracker" || h.Control != APISocket(cfg.Dir) || h.PID <= 0 {
		t.Fatalf("handle = %+v", h)
	}
	if st, _ := fc.Status(ctx, h); st != vmm.StateRunning {
		t.Fatalf("Status = %v, want running", st)
	}
	// The process runs in its own session.
	if sid, err := unix.Getsid(h.PID); err != nil || sid != h.PID {
		t.Errorf("firecracker session = %d, %v; want its own (%d)", sid, err, h.PID)
	}
	ps := puts(t, s, readRecord(t, record))
	if got := strings.Join(paths(ps), " "); got != strings.Join(wantSequence, " ") {
		t.Fatalf("PUT sequence\n got %s\nwant %s", got, strings.Join(wantSequence, " "))
	}
	wantBody(t, ps[0], map[string]any{"log_path": filepath.Join(cfg.Dir, "firecracker.log")})
	wantBody(t, ps[1], map[string]any{"metrics_path": filepath.Join(cfg.Dir, "firecracker.metrics")})
	wantBody(t, ps[2], map[string]any{"serial_out_path": cfg.ConsoleLog})
	wantBody(t, ps[3], map[string]any{"kernel_image_path": cfg.Kernel, "initrd_path": cfg.Initrd, "boot_args": cfg.Cmdline})
	wantBody(t, ps[4], map[string]any{"vcpu_count": 2.0, "mem_size_mib": 512.0})
	wantBody(t, ps[5], map[string]any{"drive_id": "rootfs", "path_on_host": cfg.Disks[0].Path, "is_root_device": true, "is_read_only": false})
	wantBody(t, ps[6], map[string]any{"drive_id": "disk1", "path_on_host": cfg.Disks[1].Path, "is_root_device": false, "is_read_only": false})
	wantBody(t, ps[7], map[string]any{"iface_id": "eth0", "host_dev_name": "tap-vm1", "guest_mac": "52:54:00:12:34:56"})
	wantBody(t, ps[8], map[string]any{"guest_cid": 7.0, "uds_path": cfg.AgentSocket})
	wantBody(t, ps[9], map[string]any{"action_type": "InstanceStart"})

	if err := fc.Stop(ctx, h, 5*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	all := puts(t, s, readRecord(t, record))
	last := all[len(all)-1]
	wantBody(t, last, map[string]any{"action_type": "SendCtrlAltDel"})
	if st, _ := fc.Status(ctx, h); st != vmm.StateStopped {
		t.Fatalf("Status after Stop = %v", st)
	}
	assertDir(t, cfg.Dir, "firecracker.log") // the log stays, sockets and state go
}

// assertDir fails unless dir holds exactly the names given.
func assertDir(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) && len(names) == 0 {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Fatalf("%s holds %v, want %v", dir, got, names)
	}
}

func TestStopKillsAfterTimeout(t *testing.T) {
	exe, _ := fakeEnv(t, "ignore-ctrlaltdel")
	cfg := testConfig(t, t.TempDir())
	fc := New(Options{Binary: exe})
	ctx := context.Background()
	h, err := fc.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	begin := time.Now()
	if err := fc.Stop(ctx, h, 300*time.Millisecond); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if d := time.Since(begin); d < 300*time.Millisecond {
		t.Fatalf("Stop returned after %v, before the timeout", d)
	}
	if vmm.Alive(h.PID, h.StartTime) {
		t.Fatal("process alive after Stop")
	}
	assertDir(t, cfg.Dir, "firecracker.log")
}

func TestStartFailures(t *testing.T) {
	tests := []struct {
		mode    string
		timeout time.Duration
		want    []string
	}{
		{"exit", 0, []string{"exited before its API socket came up", "bad config, giving up"}},
		{"nosocket", 300 * time.Millisecond, []string{"API socket", "never appeared"}},
		{"fault:/machine-config", 0, []string{"PUT /machine-config", `"mem_size_mib":512`, "400", "The kernel file cannot be opened"}},
		{"fault:/actions", 0, []string{"PUT /actions", "InstanceStart", "400"}},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			exe, _ := fakeEnv(t, tt.mode)
			base := t.TempDir()
			cfg := testConfig(t, base)
			fc := New(Options{Binary: exe, StartTimeout: tt.timeout})
			_, err := fc.Start(context.Background(), cfg)
			if err == nil {
				t.Fatal("Start succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			var apiErr *APIError
			if strings.HasPrefix(tt.mode, "fault:") && !errors.As(err, &apiErr) {
				t.Errorf("error %v is not an *APIError", err)
			}
			// Nothing left: no runtime dir, no console log Start created.
			assertDir(t, filepath.Join(base, "run"))
			if _, err := os.Stat(cfg.ConsoleLog); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("console log left behind: %v", err)
			}
			assertNoChild(t, exe)
		})
	}
}

// assertNoChild fails if a fake firecracker is still a child of this test.
func assertNoChild(t *testing.T, exe string) {
	t.Helper()
	var ws syscall.WaitStatus
	pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
	if pid > 0 {
		t.Errorf("unreaped child %d", pid)
	}
	_ = err // ECHILD: no children, as wanted
}

func TestJailedStartKill(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the jail layout chowns files and makes device nodes: needs root")
	}
	exe, record := fakeEnv(t, "")
	s := loadSpec(t)
	base := t.TempDir()
	cfg := testConfig(t, base)
	must(t, os.WriteFile(cfg.ConsoleLog, []byte("earlier boot\n"), 0o600))
	chroot := filepath.Join(base, "jail")
	fc := New(Options{Binary: exe, JailerBinary: exe, JailerEnabled: true, ChrootBase: chroot, UIDBase: 50000})
	ctx := context.Background()
	h, err := fc.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	root := JailRoot(chroot, exe, cfg.ID)
	ps := puts(t, s, readRecord(t, record))
	if got := strings.Join(paths(ps), " "); got != strings.Join(wantSequence, " ") {
		t.Fatalf("PUT sequence\n got %s\nwant %s", got, strings.Join(wantSequence, " "))
	}
	// Inside the jail Firecracker sees chroot-relative paths.
	wantBody(t, ps[3], map[string]any{"kernel_image_path": "/vmlinux", "initrd_path": "/initrd"})
	wantBody(t, ps[5], map[string]any{"path_on_host": "/rootfs", "is_root_device": true})
	wantBody(t, ps[6], map[string]any{"path_on_host": "/disk1"})
	wantBody(t, ps[8], map[string]any{"guest_cid": 7.0, "uds_path": "/agent.vsock"})
	// Hard links, not copies; writable disks belong to the VM's uid.
	uid := 50000 + 7
	for _, p := range [][2]string{{cfg.Kernel, "vmlinux"}, {cfg.Disks[0].Path, "rootfs"}, {cfg.Disks[1].Path, "disk1"}} {
		a, b := statT(t, p[0]), statT(t, filepath.Join(root, p[1]))
		if a.Ino != b.Ino {
			t.Errorf("%s in the jail is not a hard link of %s", p[1], p[0])
		}
	}
	if st := statT(t, cfg.Disks[0].Path); int(st.Uid) != uid {
		t.Errorf("root disk owned by %d during the run, want %d", st.Uid, uid)
	}
	if st := statT(t, cfg.Kernel); st.Uid != 0 {
		t.Errorf("shared kernel owner changed to %d", st.Uid)
	}
	// Host-side sockets reach the ones in the jail.
	for _, p := range []string{h.Control, cfg.AgentSocket} {
		c, err := net.Dial("unix", p)
		if err != nil {
			t.Errorf("dial %s: %v", p, err)
			continue
		}
		c.Close()
	}
	must(t, os.WriteFile(filepath.Join(root, "console.log"), []byte("earlier boot\nthis boot\n"), 0o600))

	if err := fc.Kill(ctx, h); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(root)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("jail %s left after Kill: %v", filepath.Dir(root), err)
	}
	if st := statT(t, cfg.Disks[0].Path); st.Uid != 0 {
		t.Errorf("root disk owner not restored: %d", st.Uid)
	}
	b, err := os.ReadFile(cfg.ConsoleLog)
	if err != nil || string(b) != "earlier boot\nthis boot\n" {
		t.Errorf("console log after Kill = %q, %v", b, err)
	}
	assertDir(t, cfg.Dir, "firecracker.log")
}

func TestJailedStartFailureCleansUp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the jail layout chowns files and makes device nodes: needs root")
	}
	exe, _ := fakeEnv(t, "fault:/boot-source")
	base := t.TempDir()
	cfg := testConfig(t, base)
	chroot := filepath.Join(base, "jail")
	fc := New(Options{Binary: exe, JailerBinary: exe, JailerEnabled: true, ChrootBase: chroot, UIDBase: 50000})
	_, err := fc.Start(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "PUT /boot-source") {
		t.Fatalf("Start error = %v, want the failed PUT /boot-source", err)
	}
	assertDir(t, filepath.Dir(JailRoot(chroot, exe, cfg.ID)))
	assertDir(t, filepath.Join(base, "run"))
	for _, d := range cfg.Disks {
		if st := statT(t, d.Path); st.Uid != 0 {
			t.Errorf("%s owner not restored: %d", d.Path, st.Uid)
		}
	}
	if _, err := os.Lstat(cfg.ConsoleLog); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("console log left behind: %v", err)
	}
}

func TestJailRejectsUnreadableSharedFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, as the jail does")
	}
	exe, _ := fakeEnv(t, "")
	base := t.TempDir()
	cfg := testConfig(t, base)
	must(t, os.Chmod(cfg.Kernel, 0o600))
	fc := New(Options{Binary: exe, JailerBinary: exe, JailerEnabled: true, ChrootBase: filepath.Join(base, "jail")})
	_, err := fc.Start(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "not world-readable") {
		t.Fatalf("Start error = %v, want a world-readable complaint", err)
	}
	assertDir(t, filepath.Join(base, "jail", filepath.Base(exe)))
}

func statT(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return &st
}

func TestValidate(t *testing.T) {
	base := t.TempDir()
	good := testConfig(t, base)
	tests := []struct {
		name   string
		jailed bool
		mod    func(*vmm.Config)
		want   string
	}{
		{"qcow2", false, func(c *vmm.Config) { c.Disks[0].Format = "qcow2" }, "only takes raw"},
		{"cid", false, func(c *vmm.Config) { c.GuestCID = 2 }, "guest cid"},
		{"vcpus", false, func(c *vmm.Config) { c.VCPUs = 33 }, "1 to 32"},
		{"jail id", true, func(c *vmm.Config) { c.ID = "vm_1" }, "letters, digits and hyphens"},
		{"no disk", false, func(c *vmm.Config) { c.Disks = nil }, "no root disk"},
	}
	for _, tt := range tests {
		cfg := good
		cfg.Disks = append([]vmm.Disk(nil), good.Disks...)
		tt.mod(&cfg)
		fc := New(Options{JailerEnabled: tt.jailed})
		_, err := fc.Start(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, err, tt.want)
		}
	}
	assertDir(t, filepath.Join(base, "run"))
}

// TestEndToEnd boots a real guest. It needs firecracker on PATH, a KVM that
// runs guests, and BANGER_FC_E2E_KERNEL / BANGER_FC_E2E_ROOTFS.
func TestEndToEnd(t *testing.T) {
	bin, err := exec.LookPath("firecracker")
	if err != nil {
		t.Skip("firecracker is not on PATH (no release binary can be installed on this machine)")
	}
	kernel, rootfs := os.Getenv("BANGER_FC_E2E_KERNEL"), os.Getenv("BANGER_FC_E2E_ROOTFS")
	if kernel == "" || rootfs == "" {
		t.Skip("set BANGER_FC_E2E_KERNEL (a vmlinux) and BANGER_FC_E2E_ROOTFS (a raw ext4 image) to boot a real guest")
	}
	if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err != nil {
		t.Skipf("KVM is not usable: %v", err)
	} else {
		f.Close()
	}
	v, err := Version(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	if ok, msg := CheckVersion(v); !ok {
		t.Skip(msg)
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root.raw")
	if _, err := rootdisk.RealHost().Copy(context.Background(), rootfs, root); err != nil {
		t.Fatal(err)
	}
	cfg := vmm.Config{ID: "e2e", Kernel: kernel, Cmdline: "console=ttyS0 reboot=k panic=1 root=/dev/vda rw",
		Disks: []vmm.Disk{{Path: root, Format: "raw"}}, VCPUs: 1, MemoryMiB: 256, Dir: filepath.Join(dir, "run"),
		ConsoleLog: filepath.Join(dir, "console.log"), AgentSocket: filepath.Join(dir, "run", "agent.sock"), GuestCID: 3}
	fc := New(Options{Binary: bin})
	h, err := fc.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.Kill(context.Background(), h)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = poll.Until(ctx, 200*time.Millisecond, nil, func(context.Context) (bool, error) {
		b, _ := os.ReadFile(cfg.ConsoleLog)
		return strings.Contains(string(b), "Linux version"), nil
	})
	if err != nil {
		t.Fatal("no kernel output on the console within 30s")
	}
}
