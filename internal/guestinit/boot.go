package guestinit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/agent"
	"banger/internal/poll"
)

// WorkParam names the work disk's device on the kernel command line
// (banger.work=/dev/vdb); DefaultWorkDevice is used without it.
const (
	WorkParam         = "banger.work"
	DefaultWorkDevice = "/dev/vdb"
	WorkMountPoint    = agent.WorkMountPoint
	// NoWorkDevice (banger.work=none) leaves the work disk unmounted: a
	// snapshot template's clones each mount their own after the restore.
	NoWorkDevice = "none"
)

// Init is banger-agent as PID 1.
type Init struct {
	Host Host
	Log  *slog.Logger
	// DeviceWait bounds the wait for the work disk's device node (5 s when
	// zero); Grace is how long processes get between SIGTERM and SIGKILL
	// at power-off (5 s when zero).
	DeviceWait, Grace time.Duration

	mounted   []Mount // what Boot mounted, in order
	powerOnce sync.Once
	powerOff  chan struct{}
}

// New returns an Init that acts on host.
func New(host Host, log *slog.Logger) *Init {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Init{Host: host, Log: log, powerOff: make(chan struct{})}
}

// APIMounts are the kernel file systems every program expects, in order.
func APIMounts() []Mount {
	const nosuid, nodev, noexec = unix.MS_NOSUID, unix.MS_NODEV, unix.MS_NOEXEC
	return []Mount{
		{"proc", "/proc", "proc", nosuid | nodev | noexec, ""},
		{"sysfs", "/sys", "sysfs", nosuid | nodev | noexec, ""},
		{"devtmpfs", "/dev", "devtmpfs", nosuid, "mode=0755"},
		{"devpts", "/dev/pts", "devpts", nosuid | noexec, "gid=5,mode=0620,ptmxmode=0666"},
		{"tmpfs", "/dev/shm", "tmpfs", nosuid | nodev, "mode=1777"},
		{"tmpfs", "/run", "tmpfs", nosuid | nodev, "mode=0755"},
		{"tmpfs", "/tmp", "tmpfs", nosuid | nodev, "mode=1777"},
	}
}

// Boot readies the machine: API file systems, the work disk on /root,
// the network, and Ctrl-Alt-Del as a signal. A failed step is reported
// and the next one still runs, so a guest whose network failed still
// answers on its host-only channels.
func (in *Init) Boot(ctx context.Context) error {
	var errs []error
	for _, m := range APIMounts() {
		errs = append(errs, in.mount(m))
	}
	b, err := in.Host.ReadFile("/proc/cmdline")
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("read kernel command line: %w", err))...)
	}
	cmdline := string(b)
	errs = append(errs, in.MountWork(ctx, cmdline), in.network(ctx, cmdline))
	// The kernel then sends SIGINT to init on Ctrl-Alt-Del (a VMM's
	// graceful-stop request) instead of rebooting at once.
	if err := in.Host.Reboot(unix.LINUX_REBOOT_CMD_CAD_OFF); err != nil {
		errs = append(errs, fmt.Errorf("route Ctrl-Alt-Del to init: %w", err))
	}
	return errors.Join(errs...)
}

// mount mounts m unless something is mounted on its target already.
func (in *Init) mount(m Mount) error {
	if in.Host.MountPoints()[m.Target] {
		in.Log.Debug("already mounted", "target", m.Target)
		return nil
	}
	if err := in.Host.Mount(m); err != nil {
		return fmt.Errorf("mount %s on %s: %w", m.Source, m.Target, err)
	}
	in.mounted = append(in.mounted, m)
	return nil
}

// WorkDevice is the work disk's device named on cmdline.
func WorkDevice(cmdline string) string {
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, WorkParam+"="); ok && v != "" {
			return v
		}
	}
	return DefaultWorkDevice
}

// MountWork waits for the work disk's device node (devtmpfs makes it when
// the driver probes; no udev is needed) and mounts it on /root, unless
// something is mounted there already. PID 1 runs it at boot, and
// `banger-agent mount-work` (banger-work.service) under systemd.
func (in *Init) MountWork(ctx context.Context, cmdline string) error {
	dev := WorkDevice(cmdline)
	if dev == NoWorkDevice {
		return nil // a snapshot template: each clone mounts its own
	}
	wait := in.DeviceWait
	if wait == 0 {
		wait = 5 * time.Second
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	err := poll.Until(wctx, 20*time.Millisecond, nil, func(context.Context) (bool, error) {
		return in.Host.Exists(dev), nil
	})
	if err != nil {
		return fmt.Errorf("work disk %s did not appear within %s: %w", dev, wait, err)
	}
	return in.mount(Mount{Source: dev, Target: WorkMountPoint, FSType: "ext4"})
}

// network configures the network from the banger.* parameters; the
// gateway, which runs banger's DNS, is the name server unless banger.dns=
// names one.
func (in *Init) network(ctx context.Context, cmdline string) error {
	if !strings.Contains(cmdline, "banger.ip=") {
		in.Log.Info("no banger.ip= on the kernel command line: network left alone")
		return nil
	}
	cfg, err := agent.ParseCmdline(cmdline)
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	if len(cfg.DNS) == 0 && cfg.Gateway.IsValid() {
		cfg.DNS = append(cfg.DNS, cfg.Gateway)
	}
	if err := in.Host.ConfigureNetwork(ctx, cfg); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	return nil
}

// PowerOff asks Wait to return; the agent's "shutdown" method and the
// power button call it.
func (in *Init) PowerOff() { in.powerOnce.Do(func() { close(in.powerOff) }) }

// Wait returns when a power-off is asked for: SIGTERM, SIGINT (what the
// kernel sends init on Ctrl-Alt-Del), SIGPWR, or PowerOff (the agent's
// "shutdown" method, the power button).
func (in *Init) Wait(ctx context.Context, signals <-chan os.Signal) {
	select {
	case <-ctx.Done():
	case <-in.powerOff:
		in.Log.Info("power-off requested (shutdown method or power button)")
	case sig := <-signals:
		in.Log.Info("power-off on signal", "signal", sig)
	}
}
