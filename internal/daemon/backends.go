package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"banger/internal/config"
	"banger/internal/store"
	"banger/internal/vmm"
	"banger/internal/vmm/qemu"
)

// Backends builds the VMM backends this daemon offers and names the one new
// VMs use. vmm = "auto" picks QEMU until the Firecracker backend exists.
func Backends(ctx context.Context, cfg *config.Config, st *store.Store, log *slog.Logger) (map[string]vmm.VMM, string, error) {
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
	chosen := "qemu"
	if cfg.VMM == "firecracker" {
		chosen = "firecracker"
		why := "this build of banger has no Firecracker backend yet"
		if _, err := exec.LookPath(cfg.FirecrackerBin); err != nil {
			why = fmt.Sprintf("the firecracker binary %q was not found on PATH, and %s", cfg.FirecrackerBin, why)
		}
		backends["firecracker"] = unavailable{name: "firecracker", why: why + `; set vmm = "qemu" or "auto" in the config`}
	}
	return backends, chosen, nil
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
}

func (a *accelQEMU) Name() string { return "qemu" }

func (a *accelQEMU) resolve(ctx context.Context, kernel, initrd string) string {
	if a.fixed == "kvm" || a.fixed == "tcg" {
		return a.fixed
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	r, err := qemu.ProbeCache{Path: a.cachePath, Binary: a.binary, Kernel: kernel, Initrd: initrd}.Result(ctx)
	if err != nil {
		a.log.WarnContext(ctx, "kvm probe failed; using tcg", "err", err)
		return "tcg"
	}
	a.log.InfoContext(ctx, "accelerator", "accel", r.Accel(), "detail", r.Detail)
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
