package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"banger/internal/config"
	"banger/internal/vmm"
	"banger/internal/vmm/firecracker"
	"banger/internal/vmm/qemu"
)

// Backends builds the VMM backends this daemon offers and names the one new
// VMs use. vmm = "auto" picks QEMU until the Firecracker backend exists.
func Backends(ctx context.Context, cfg *config.Config, log *slog.Logger) (map[string]vmm.VMM, string, error) {
	q := &accelQEMU{
		fixed:     cfg.Accel,
		binary:    cfg.QEMUBin,
		cachePath: filepath.Join(cfg.CacheDir(), "kvm-probe.json"),
		log:       log,
		byAccel: map[string]*qemu.QEMU{
			"kvm": qemu.New(qemu.Options{Binary: cfg.QEMUBin, Accel: "kvm", Logger: log}),
			"tcg": qemu.New(qemu.Options{Binary: cfg.QEMUBin, Accel: "tcg", Logger: log}),
		},
	}
	backends := map[string]vmm.VMM{"qemu": q}
	fcPath, fcErr := exec.LookPath(cfg.FirecrackerBin)
	if fcErr == nil {
		_, jailerErr := exec.LookPath(cfg.JailerBin)
		jailed := jailerErr == nil
		if cfg.JailerEnabled != nil {
			jailed = *cfg.JailerEnabled
		}
		backends["firecracker"] = firecracker.New(firecracker.Options{
			Binary: fcPath, JailerBinary: cfg.JailerBin, JailerEnabled: jailed, ChrootBase: cfg.JailerChrootBase, Logger: log,
		})
	} else {
		backends["firecracker"] = unavailable{name: "firecracker", why: fmt.Sprintf(
			"the firecracker binary %q was not found on PATH (install Firecracker, see docs/firecracker.md, or set firecracker_bin)", cfg.FirecrackerBin)}
	}
	chosen := "qemu"
	switch cfg.VMM {
	case "firecracker":
		chosen = "firecracker"
	case "auto":
		// Firecracker needs KVM that really runs guests; QEMU boots anywhere.
		if fcErr == nil && q.kvmWorks(ctx, cfg) {
			chosen = "firecracker"
		}
	}
	log.InfoContext(ctx, "vmm backend", "vmm", cfg.VMM, "chosen", chosen)
	return backends, chosen, nil
}

// kvmWorks says whether the KVM probe, run with the default image's kernel,
// found that KVM can run guests. Without a kernel yet it answers no.
func (a *accelQEMU) kvmWorks(ctx context.Context, cfg *config.Config) bool {
	if a.fixed == "tcg" {
		return false
	}
	kdir := filepath.Join(cfg.KernelsDir(), cfg.DefaultImage)
	kernel, initrd := filepath.Join(kdir, "vmlinuz"), filepath.Join(kdir, "initrd.img")
	if _, err := os.Stat(kernel); err != nil {
		return false
	}
	if _, err := os.Stat(initrd); err != nil {
		initrd = ""
	}
	return a.resolve(ctx, kernel, initrd) == "kvm"
}

// accelQEMU is the QEMU backend with the accelerator chosen per start: the
// config's accel when it is kvm or tcg, otherwise a (cached) probe that
// boots the VM's own kernel under KVM.
type accelQEMU struct {
	fixed     string
	binary    string
	cachePath string
	log       *slog.Logger
	byAccel   map[string]*qemu.QEMU
	mu        sync.Mutex
	// decided remembers the probe's answer per kernel file for the
	// daemon's lifetime, so a start runs neither the probe nor
	// `qemu --version` again.
	decided map[string]string
}

func (a *accelQEMU) Name() string { return "qemu" }

// RequiredTools names the QEMU binary, so that a missing one is reported
// with its package before anything is created.
func (a *accelQEMU) RequiredTools() []string { return []string{a.binary} }

func (a *accelQEMU) resolve(ctx context.Context, kernel, initrd string) string {
	if a.fixed == "kvm" || a.fixed == "tcg" {
		return a.fixed
	}
	key := kernel + "\x00" + initrd
	if st, err := os.Stat(kernel); err == nil {
		key += "\x00" + st.ModTime().String()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if accel, ok := a.decided[key]; ok {
		return accel
	}
	r, err := qemu.ProbeCache{Path: a.cachePath, Binary: a.binary, Kernel: kernel, Initrd: initrd}.Result(ctx)
	if err != nil {
		a.log.WarnContext(ctx, "kvm probe failed; using tcg", "err", err)
		return "tcg"
	}
	a.log.InfoContext(ctx, "accelerator", "accel", r.Accel(), "detail", r.Detail)
	if a.decided == nil {
		a.decided = map[string]string{}
	}
	a.decided[key] = r.Accel()
	return r.Accel()
}

func (a *accelQEMU) pick(h vmm.Handle) *qemu.QEMU {
	if q, ok := a.byAccel[h.Accel]; ok {
		return q
	}
	return a.byAccel["tcg"]
}

func (a *accelQEMU) Start(ctx context.Context, cfg vmm.Config) (vmm.Handle, error) {
	return a.byAccel[a.resolve(ctx, cfg.Kernel, cfg.Initrd)].Start(ctx, cfg)
}

func (a *accelQEMU) Stop(ctx context.Context, h vmm.Handle, timeout time.Duration) error {
	return a.pick(h).Stop(ctx, h, timeout)
}

func (a *accelQEMU) Kill(ctx context.Context, h vmm.Handle) error { return a.pick(h).Kill(ctx, h) }

func (a *accelQEMU) Wait(ctx context.Context, h vmm.Handle) error { return a.pick(h).Wait(ctx, h) }

func (a *accelQEMU) Status(ctx context.Context, h vmm.Handle) (vmm.State, error) {
	return a.pick(h).Status(ctx, h)
}

// unavailable is a backend the config asks for that this host or build
// cannot provide; every operation fails with the reason.
type unavailable struct{ name, why string }

func (u unavailable) Name() string { return u.name }

// Preflight fails with the reason the backend cannot run VMs.
func (u unavailable) Preflight(context.Context) error {
	return fmt.Errorf("vmm = %q: %s", u.name, u.why)
}
func (u unavailable) Start(context.Context, vmm.Config) (vmm.Handle, error) {
	return vmm.Handle{}, fmt.Errorf("vmm %s: %s", u.name, u.why)
}
func (u unavailable) Stop(context.Context, vmm.Handle, time.Duration) error { return vmm.ErrNotRunning }
func (u unavailable) Kill(context.Context, vmm.Handle) error                { return vmm.ErrNotRunning }
func (u unavailable) Wait(context.Context, vmm.Handle) error                { return vmm.ErrNotRunning }
func (u unavailable) Status(context.Context, vmm.Handle) (vmm.State, error) {
	return vmm.StateStopped, nil
}
