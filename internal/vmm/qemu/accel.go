package qemu

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"time"

	"banger/internal/vmm"
	"banger/internal/vmm/kvm"
)

// Accelerated is the QEMU backend with the accelerator chosen per start:
// the config's accel when it is kvm or tcg, otherwise the (cached) KVM
// probe, which boots the VM's own kernel under KVM.
type Accelerated struct {
	fixed   string
	env     vmm.Env
	log     *slog.Logger
	byAccel map[string]*QEMU
	// probe replaces the real KVM probe in tests.
	probe func(ctx context.Context, kernel, initrd string) (kvm.ProbeResult, error)

	mu sync.Mutex
	// decided remembers the probe's answer per kernel file for the
	// daemon's lifetime, so a start runs neither the probe nor
	// `qemu --version` again.
	decided map[string]string
}

var (
	_ vmm.VMM          = (*Accelerated)(nil)
	_ vmm.RootDisker   = (*Accelerated)(nil)
	_ vmm.Preflighter  = (*Accelerated)(nil)
	_ vmm.ToolRequirer = (*Accelerated)(nil)
)

// NewAccelerated returns the QEMU backend configured by env's settings.
func NewAccelerated(env vmm.Env) *Accelerated {
	bin := env.Settings.String(BinaryKey)
	// Validated with the config; a bad value falls back to the default.
	base, _ := vmm.ParseUIDBase(env.Settings.String(vmm.UIDBaseKey))
	a := &Accelerated{
		fixed: env.Settings.String(AccelKey),
		env:   env,
		log:   env.Logger(),
		byAccel: map[string]*QEMU{
			"kvm": New(Options{Binary: bin, Accel: "kvm", Logger: env.Log, UIDBase: base}),
			"tcg": New(Options{Binary: bin, Accel: "tcg", Logger: env.Log, UIDBase: base}),
		},
	}
	a.probe = func(ctx context.Context, kernel, initrd string) (kvm.ProbeResult, error) {
		return kvm.Cache(env, kernel, initrd).Result(ctx)
	}
	return a
}

// Name implements vmm.VMM.
func (a *Accelerated) Name() string { return Name }

// RequiredTools implements vmm.ToolRequirer.
func (a *Accelerated) RequiredTools() []string {
	var names []string
	for _, t := range tools(a.env.Settings) {
		names = append(names, t.Name)
	}
	return names
}

// Preflight implements vmm.Preflighter: the QEMU binary and qemu-img must be
// installed; a missing one is named with its package.
func (a *Accelerated) Preflight(context.Context) error {
	return requireTools(a.env)
}

// resolve decides the accelerator for a VM booting kernel and initrd.
func (a *Accelerated) resolve(ctx context.Context, kernel, initrd string) string {
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
	r, err := a.probe(ctx, kernel, initrd)
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

func (a *Accelerated) pick(h vmm.Handle) *QEMU {
	if q, ok := a.byAccel[h.Accel]; ok {
		return q
	}
	return a.byAccel["tcg"]
}

// Start implements vmm.VMM.
func (a *Accelerated) Start(ctx context.Context, cfg vmm.Config) (vmm.Handle, error) {
	return a.byAccel[a.resolve(ctx, cfg.Kernel, cfg.Initrd)].Start(ctx, cfg)
}

// Stop implements vmm.VMM.
func (a *Accelerated) Stop(ctx context.Context, h vmm.Handle, timeout time.Duration) error {
	return a.pick(h).Stop(ctx, h, timeout)
}

// Kill implements vmm.VMM.
func (a *Accelerated) Kill(ctx context.Context, h vmm.Handle) error { return a.pick(h).Kill(ctx, h) }

// Wait implements vmm.VMM.
func (a *Accelerated) Wait(ctx context.Context, h vmm.Handle) error { return a.pick(h).Wait(ctx, h) }

// Status implements vmm.VMM.
func (a *Accelerated) Status(ctx context.Context, h vmm.Handle) (vmm.State, error) {
	return a.pick(h).Status(ctx, h)
}

// PrepareRootDisk implements vmm.RootDisker: a qcow2 overlay over the
// image's raw rootfs (see OverlaySized).
func (a *Accelerated) PrepareRootDisk(ctx context.Context, image, dir string, size int64) (vmm.Disk, error) {
	return a.byAccel["tcg"].PrepareRootDisk(ctx, image, dir, size)
}

var _ vmm.ConsolePiper = (*Accelerated)(nil)

// ConsoleFIFO implements vmm.ConsolePiper, as QEMU does.
func (a *Accelerated) ConsoleFIFO() bool { return true }
