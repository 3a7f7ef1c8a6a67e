// Package firecracker runs VMs under Firecracker, optionally inside its
// jailer, and configures them through Firecracker's REST API on a unix
// socket.
package firecracker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"banger/internal/vmm"
	"banger/internal/vmm/rootdisk"
)

// Options configures the Firecracker backend.
type Options struct {
	// Binary is the firecracker executable; default "firecracker".
	Binary string
	// JailerBinary is the jailer executable; default "jailer".
	JailerBinary string
	// JailerEnabled runs each VM under the jailer, as its own uid in a chroot.
	JailerEnabled bool
	// ChrootBase is the jailer's --chroot-base-dir; default /srv/jailer. It
	// must be on the same filesystem as the kernels and disks, which are
	// hard-linked into each jail (see SameFilesystem).
	ChrootBase string
	// UIDBase is added to a VM's guest CID to give its jailed process a uid
	// and gid of its own; default DefaultUIDBase.
	UIDBase int
	// Logger receives backend diagnostics; nil discards them.
	Logger *slog.Logger
	// Run runs a command to completion and returns its combined output; it
	// is used by Preflight and for the losetup and dmsetup commands of
	// dm-snapshot root disks. Default: os/exec.
	Run func(ctx context.Context, argv []string) ([]byte, error)
	// StartTimeout bounds how long Start waits for the API socket; default 10s.
	StartTimeout time.Duration
}

// DefaultUIDBase is the first uid/gid of jailed Firecracker processes: the
// vm_uid_base of every backend.
const DefaultUIDBase = vmm.DefaultUIDBase

// DefaultChrootBase is the jailer's own default --chroot-base-dir.
const DefaultChrootBase = "/srv/jailer"

// Files Start creates in Config.Dir.
const (
	apiSocketName = "fc.sock"
	logFileName   = "firecracker.log"
	metricsName   = "firecracker.metrics"
	stateFileName = "firecracker.state"
)

// Firecracker implements vmm.VMM.
type Firecracker struct {
	binary, jailer string
	jailed         bool
	chrootBase     string
	uidBase        int
	log            *slog.Logger
	run            func(ctx context.Context, argv []string) ([]byte, error)
	startTimeout   time.Duration
	disks          rootdisk.Host // root disk methods and the host paths they use

	vmm.Lifecycle
}

var _ vmm.VMM = (*Firecracker)(nil)

// New returns a Firecracker backend.
func New(o Options) *Firecracker {
	f := &Firecracker{
		binary:       o.Binary,
		jailer:       o.JailerBinary,
		jailed:       o.JailerEnabled,
		chrootBase:   o.ChrootBase,
		uidBase:      o.UIDBase,
		log:          o.Logger,
		run:          o.Run,
		startTimeout: o.StartTimeout,
		disks:        rootdisk.RealHost(),
	}
	if f.binary == "" {
		f.binary = "firecracker"
	}
	if f.jailer == "" {
		f.jailer = "jailer"
	}
	if f.chrootBase == "" {
		f.chrootBase = DefaultChrootBase
	}
	if f.uidBase <= 0 {
		f.uidBase = DefaultUIDBase
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	f.Lifecycle = vmm.Lifecycle{
		Procs: &vmm.Supervisor{Name: "firecracker", Log: f.log},
		Graceful: func(ctx context.Context, h vmm.Handle) error {
			return NewClient(h.Control).Action(ctx, ActionSendCtrlAltDel)
		},
		Cleanup: f.cleanup,
	}
	if f.run == nil {
		f.run = func(ctx context.Context, argv []string) ([]byte, error) {
			return exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		}
	}
	if f.startTimeout <= 0 {
		f.startTimeout = 10 * time.Second
	}
	return f
}

// Name implements vmm.VMM.
func (f *Firecracker) Name() string { return Name }

// APISocket is where Start puts (or links) the API socket for a VM runtime
// directory; Handle.Control is this path.
func APISocket(dir string) string { return filepath.Join(dir, apiSocketName) }

// Preflight checks that the firecracker binary runs and is a supported
// version, and that the jailer is there when enabled.
func (f *Firecracker) Preflight(ctx context.Context) error {
	out, err := f.run(ctx, []string{f.binary, "--version"})
	if err != nil {
		return fmt.Errorf("firecracker preflight: run %s --version: %w: %s", f.binary, err, firstLine(string(out)))
	}
	v, ok := parseVersion(string(out))
	if !ok {
		return fmt.Errorf("firecracker preflight: no version in %q", firstLine(string(out)))
	}
	if ok, msg := CheckVersion(v); !ok {
		return fmt.Errorf("firecracker preflight: %s", msg)
	}
	if f.jailed {
		if _, err := exec.LookPath(f.jailer); err != nil {
			return fmt.Errorf("firecracker preflight: jailer enabled but %w", err)
		}
	}
	return nil
}

func (f *Firecracker) validate(cfg vmm.Config) error {
	if cfg.ID == "" {
		return errors.New("no vm id")
	}
	if err := cfg.Check(APISocket(cfg.Dir)); err != nil {
		return err
	}
	switch {
	case cfg.VCPUs > 32:
		return fmt.Errorf("vcpus %d: firecracker takes 1 to 32", cfg.VCPUs)
	case cfg.GuestCID < 3:
		return fmt.Errorf("guest cid %d: vsock needs 3 or more", cfg.GuestCID)
	case len(cfg.Disks) == 0:
		return errors.New("no root disk")
	}
	if f.jailed {
		if err := jailID(cfg.ID); err != nil {
			return err
		}
	}
	for i, d := range cfg.Disks {
		if d.Format != "" && d.Format != "raw" {
			return fmt.Errorf("disk %d (%s): format %q: firecracker only takes raw disks (see PrepareRootDisk)", i, d.Path, d.Format)
		}
	}
	return nil
}

// jailID checks the jailer's rule for --id: alphanumerics and hyphens, at
// most 64 characters.
func jailID(id string) error {
	if len(id) > 64 {
		return fmt.Errorf("vm id %q: the jailer takes at most 64 characters", id)
	}
	for _, r := range id {
		if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return fmt.Errorf("vm id %q: the jailer takes only letters, digits and hyphens", id)
		}
	}
	return nil
}

// JailUID is the uid and gid a jailed VM's Firecracker runs as: uidBase plus
// the VM's guest CID, which the store keeps unique among VMs. The tap device
// of a jailed VM must be owned by this uid.
func JailUID(uidBase int, cfg vmm.Config) int { return vmm.GuestUID(uidBase, cfg) }

// Start implements vmm.VMM. It returns once Firecracker has accepted the
// whole configuration and InstanceStart; the process runs in its own session
// and outlives ctx and the daemon. On failure nothing it created is left.
func (f *Firecracker) Start(ctx context.Context, cfg vmm.Config) (_ vmm.Handle, err error) {
	if err := f.validate(cfg); err != nil {
		return vmm.Handle{}, fmt.Errorf("start firecracker for vm %s: %w", cfg.ID, err)
	}
	st := &runState{Dir: cfg.Dir}
	defer func() {
		if err != nil {
			st.undo(context.WithoutCancel(ctx), f.log, f.diskHost())
		}
	}()
	cfg, lay, err := f.prepare(ctx, cfg, st)
	if err != nil {
		return vmm.Handle{}, fmt.Errorf("start firecracker for vm %s: %w", cfg.ID, err)
	}
	logPath := filepath.Join(cfg.Dir, logFileName)
	st.Created = append(st.Created, logPath)
	c := NewClient(APISocket(cfg.Dir))
	p, err := f.Procs.Start(ctx, vmm.Launch{
		VM: cfg.ID, Argv: f.argv(cfg, lay), Dir: cfg.Dir, LogPath: logPath, LogName: logPath,
		Ready: func(ctx context.Context) error { return apiReady(ctx, c) },
		Every: 20 * time.Millisecond, Timeout: f.startTimeout, What: "its API socket",
	})
	if err != nil {
		return vmm.Handle{}, fmt.Errorf("start firecracker for vm %s: %w", cfg.ID, err)
	}
	st.kill = p.Abort
	if err := configure(ctx, c, cfg, lay); err != nil {
		return vmm.Handle{}, fmt.Errorf("start firecracker for vm %s: %w%s", cfg.ID, err, p.LogTail())
	}
	f.log.Info("firecracker started", "vm", cfg.ID, "pid", p.PID, "jailed", f.jailed)
	return vmm.Handle{Backend: f.Name(), PID: p.PID, StartTime: p.StartTime, Control: c.Socket(), Accel: "kvm"}, nil
}

// prepare readies the runtime dir for a start, recording in st what it
// creates: it undoes the root disk snapshot an earlier run left, turns
// dm-snapshot root disks into devices, and lays out the files Firecracker
// will see (in the jail, if jailed).
func (f *Firecracker) prepare(ctx context.Context, cfg vmm.Config, st *runState) (vmm.Config, layout, error) {
	// A run the daemon lost track of may have left its root disk snapshot.
	if old, lerr := loadState(cfg.Dir); lerr == nil && old.DM != nil {
		if err := f.diskHost().Teardown(ctx, old.DM); err != nil {
			return cfg, layout{}, fmt.Errorf("undo the root disk snapshot of an earlier run: %w", err)
		}
	}
	if _, err := os.Stat(cfg.Dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
			return cfg, layout{}, fmt.Errorf("create runtime dir: %w", err)
		}
		st.CreatedDir = true
	}
	// Stale files from an earlier run would make Firecracker's binds fail.
	vmm.RemoveFiles(APISocket(cfg.Dir), cfg.AgentSocket, filepath.Join(cfg.Dir, stateFileName))
	cfg, err := f.activateSnapshots(ctx, cfg, st)
	if err != nil {
		return cfg, layout{}, err
	}
	var lay layout
	if f.jailed {
		lay, err = f.buildJail(cfg, st)
	} else {
		lay, err = plainLayout(cfg, st)
	}
	if err != nil {
		return cfg, layout{}, err
	}
	return cfg, lay, st.save()
}

// argv is the command line: firecracker itself, or the jailer wrapping it.
func (f *Firecracker) argv(cfg vmm.Config, lay layout) []string {
	if !f.jailed {
		return []string{f.binary, "--api-sock", lay.apiSock, "--id", cfg.ID}
	}
	id := strconv.Itoa(lay.uid)
	return []string{f.jailer,
		"--id", cfg.ID,
		"--exec-file", lay.execFile,
		"--uid", id, "--gid", id,
		"--chroot-base-dir", f.chrootBase,
		"--cgroup-version", "2",
		"--", "--api-sock", lay.apiSock,
	}
}

// configure sends the VM's whole configuration, then InstanceStart.
func configure(ctx context.Context, c *Client, cfg vmm.Config, lay layout) error {
	steps := []func() error{
		func() error { return c.PutLogger(ctx, Logger{LogPath: lay.logger, Level: "Info", ShowLevel: true}) },
		func() error { return c.PutMetrics(ctx, Metrics{MetricsPath: lay.metrics}) },
		func() error { return c.PutSerial(ctx, SerialDevice{SerialOutPath: lay.console}) },
		func() error {
			return c.PutBootSource(ctx, BootSource{KernelImagePath: lay.kernel, InitrdPath: lay.initrd, BootArgs: cfg.Cmdline})
		},
		func() error {
			return c.PutMachineConfig(ctx, MachineConfig{VCPUCount: cfg.VCPUs, MemSizeMiB: cfg.MemoryMiB})
		},
	}
	for i, d := range cfg.Disks {
		steps = append(steps, func() error {
			return c.PutDrive(ctx, Drive{DriveID: DriveID(i), PathOnHost: lay.disks[i], IsRootDevice: i == 0, IsReadOnly: d.ReadOnly})
		})
	}
	for i, n := range cfg.NICs {
		steps = append(steps, func() error {
			return c.PutNetworkInterface(ctx, NetworkInterface{IfaceID: "eth" + strconv.Itoa(i), HostDevName: n.Tap, GuestMAC: n.MAC})
		})
	}
	steps = append(steps,
		func() error { return c.PutVsock(ctx, Vsock{GuestCID: cfg.GuestCID, UDSPath: lay.vsock}) },
		func() error { return c.Action(ctx, ActionInstanceStart) },
	)
	for _, s := range steps {
		if err := s(); err != nil {
			return err
		}
	}
	return nil
}

// DriveID names disk i: "rootfs" for the first (root) disk, "disk<i>" after.
func DriveID(i int) string {
	if i == 0 {
		return "rootfs"
	}
	return "disk" + strconv.Itoa(i)
}

// apiReady says whether the API socket answers GET /.
func apiReady(ctx context.Context, c *Client) error {
	if _, err := os.Stat(c.Socket()); err != nil {
		return fmt.Errorf("the firecracker API socket %s never appeared", c.Socket())
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return c.Get(ctx, "/", nil)
}

// cleanupTimeout bounds the losetup and dmsetup calls of a cleanup.
const cleanupTimeout = 30 * time.Second

// cleanup undoes what Start recorded in the runtime dir's state file. It
// runs even if ctx is cancelled: the process is gone by now.
func (f *Firecracker) cleanup(ctx context.Context, h vmm.Handle) {
	if h.Control == "" {
		return
	}
	st, err := loadState(filepath.Dir(h.Control))
	if err != nil {
		f.log.Warn("firecracker cleanup: no state", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	st.cleanup(ctx, f.log, f.diskHost())
}

var _ vmm.ConsolePiper = (*Firecracker)(nil)

// ConsoleFIFO implements vmm.ConsolePiper. Unjailed, Firecracker opens
// the FIFO as its serial output file; jailed, it sees only its chroot, so
// the console goes to a file there as before.
func (f *Firecracker) ConsoleFIFO() bool { return !f.jailed }
