// Package qemu runs VMs under QEMU's microvm machine.
package qemu

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"banger/internal/vmm"
)

// Options configures the QEMU backend.
type Options struct {
	// Binary is the QEMU executable; default "qemu-system-x86_64".
	Binary string
	// Accel is "kvm" or "tcg", resolved by the caller (see ProbeKVM).
	Accel string
	// Logger receives backend diagnostics; nil discards them.
	Logger *slog.Logger
	// TSCKHz is passed to TCG guests as tsc_early_khz= so they skip TSC
	// calibration, which hangs a microvm guest on a busy host. 0 reads it
	// from /proc/cpuinfo when trustworthy; negative disables the hint.
	TSCKHz int
	// StartTimeout bounds how long Start waits for QMP; default 10s.
	StartTimeout time.Duration
	// Img is the qemu-img executable that makes root disks; default
	// "qemu-img".
	Img string
	// UIDBase is the first uid of the range QEMU processes run as (see
	// vmm.GuestUID); default vmm.DefaultUIDBase. QEMU drops to its uid
	// only when the daemon runs as root.
	UIDBase int
}

// QEMU implements vmm.VMM.
type QEMU struct {
	binary       string
	accel        string
	log          *slog.Logger
	tscKHz       int
	startTimeout time.Duration
	img          string
	jail         jail
	versions     versionCache // for SnapshotKey

	vmm.Lifecycle
}

var _ vmm.VMM = (*QEMU)(nil)

// New returns a QEMU backend.
func New(o Options) *QEMU {
	q := &QEMU{
		binary:       o.Binary,
		accel:        o.Accel,
		log:          o.Logger,
		tscKHz:       o.TSCKHz,
		startTimeout: o.StartTimeout,
		img:          o.Img,
		jail:         defaultJail(o.UIDBase),
	}
	if q.binary == "" {
		q.binary = DefaultBinary
	}
	if q.log == nil {
		q.log = slog.New(slog.DiscardHandler)
	}
	q.Lifecycle = vmm.Lifecycle{
		Procs:    &vmm.Supervisor{Name: "qemu", Log: q.log},
		Graceful: q.powerdown,
		Cleanup:  func(_ context.Context, h vmm.Handle) { cleanup(h) },
	}
	if q.startTimeout <= 0 {
		q.startTimeout = 10 * time.Second
	}
	if q.tscKHz == 0 && q.accel != "kvm" {
		if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
			q.tscKHz = hostTSCKHz(b)
		}
	}
	return q
}

// Name implements vmm.VMM.
func (q *QEMU) Name() string { return Name }

func validate(cfg vmm.Config, accel string) error {
	if accel != "kvm" && accel != "tcg" {
		return fmt.Errorf("accel %q: want kvm or tcg", accel)
	}
	if err := cfg.Check(QMPSocket(cfg.Dir)); err != nil {
		return err
	}
	for i, d := range cfg.Disks {
		if d.Format != "" && d.Format != "raw" && d.Format != "qcow2" {
			return fmt.Errorf("disk %d: format %q: want raw or qcow2", i, d.Format)
		}
	}
	return nil
}

// Start implements vmm.VMM. It returns once QMP answers; the QEMU process
// runs in its own session and outlives ctx and the daemon.
func (q *QEMU) Start(ctx context.Context, cfg vmm.Config) (vmm.Handle, error) {
	return q.start(ctx, cfg, nil)
}

// start starts QEMU for cfg with extra arguments after Args' (snapshots
// add their memory backend and -incoming there).
func (q *QEMU) start(ctx context.Context, cfg vmm.Config, extra []string) (vmm.Handle, error) {
	if err := validate(cfg, q.accel); err != nil {
		return vmm.Handle{}, fmt.Errorf("start qemu for vm %s: %w", cfg.ID, err)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return vmm.Handle{}, fmt.Errorf("start qemu for vm %s: create runtime dir: %w", cfg.ID, err)
	}
	if err := restrict(cfg); err != nil {
		return vmm.Handle{}, fmt.Errorf("start qemu for vm %s: %w", cfg.ID, err)
	}
	qmpPath := QMPSocket(cfg.Dir)
	sockets := []string{qmpPath, cfg.AgentSocket}
	if cfg.SSHSocket != "" {
		sockets = append(sockets, cfg.SSHSocket)
	}
	// Stale sockets from an earlier run would make QEMU's bind fail.
	vmm.RemoveFiles(append(sockets, filepath.Join(cfg.Dir, pidFileName))...)
	if err := writeSocketsFile(cfg.Dir, sockets); err != nil {
		return vmm.Handle{}, fmt.Errorf("start qemu for vm %s: %w", cfg.ID, err)
	}
	if q.accel == "tcg" {
		cfg.Cmdline = withTSCHint(cfg.Cmdline, q.tscKHz)
	}
	p, err := q.Procs.Start(ctx, vmm.Launch{
		VM: cfg.ID, Argv: q.argv(cfg, extra), Dir: cfg.Dir,
		LogPath: filepath.Join(cfg.Dir, logFileName), LogName: "qemu.log",
		Ready: func(ctx context.Context) error { return qmpReady(ctx, qmpPath) },
		Every: 10 * time.Millisecond, Timeout: q.startTimeout, What: "its QMP socket",
	})
	if err != nil {
		vmm.RemoveFiles(append(sockets, filepath.Join(cfg.Dir, pidFileName), filepath.Join(cfg.Dir, socketsFileName))...)
		return vmm.Handle{}, fmt.Errorf("start qemu for vm %s: %w", cfg.ID, err)
	}
	q.log.Info("qemu started", "vm", cfg.ID, "pid", p.PID, "accel", q.accel)
	return vmm.Handle{Backend: q.Name(), PID: p.PID, StartTime: p.StartTime, Control: qmpPath, Accel: q.accel}, nil
}

// argv is the command line of cfg's QEMU: the binary, Args, the extra
// arguments of a template or a restore, and the confinement (JailArgs).
func (q *QEMU) argv(cfg vmm.Config, extra []string) []string {
	a := append([]string{q.binary}, Args(cfg, q.accel)...)
	a = append(a, extra...)
	return append(a, JailArgs(q.jail.uid(cfg))...)
}

// qmpReady says whether the QMP socket at path answers the handshake.
func qmpReady(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("qmp socket %s not there yet", path)
	}
	c, err := DialQMP(ctx, path)
	if err != nil {
		return err
	}
	return c.Close()
}

// powerdown presses the ACPI power button over QMP: the graceful half
// of Stop.
func (q *QEMU) powerdown(ctx context.Context, h vmm.Handle) error {
	c, err := DialQMP(ctx, h.Control)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Execute(ctx, "system_powerdown", nil)
	return err
}

// cleanup removes the sockets and pid file of an exited QEMU.
func cleanup(h vmm.Handle) {
	if h.Control == "" {
		return
	}
	dir := filepath.Dir(h.Control)
	files := []string{h.Control, filepath.Join(dir, pidFileName)}
	if b, err := os.ReadFile(filepath.Join(dir, socketsFileName)); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				files = append(files, l)
			}
		}
	}
	files = append(files, filepath.Join(dir, socketsFileName))
	vmm.RemoveFiles(files...)
}

func writeSocketsFile(dir string, sockets []string) error {
	p := filepath.Join(dir, socketsFileName)
	if err := os.WriteFile(p, []byte(strings.Join(sockets, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("record socket paths: %w", err)
	}
	return nil
}

var _ vmm.ConsolePiper = (*QEMU)(nil)

// ConsoleFIFO implements vmm.ConsolePiper: QEMU's file chardev opens a
// FIFO as it does a file.
func (q *QEMU) ConsoleFIFO() bool { return true }
