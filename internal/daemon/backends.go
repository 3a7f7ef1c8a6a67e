package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"banger/internal/config"
	"banger/internal/vm"
	"banger/internal/vmm"
)

// Backends builds the VMM backends of reg and names the one new VMs use:
// the config's vmm, or for "auto" the registry's choice.
func Backends(ctx context.Context, cfg *config.Config, reg *vmm.Registry, log *slog.Logger) (map[string]vmm.VMM, string, error) {
	env := cfg.VMMEnv(log)
	choice, err := reg.Choose(ctx, env, cfg.VMM)
	if err != nil {
		return nil, "", fmt.Errorf("choose the vmm backend: %w", err)
	}
	log.InfoContext(ctx, "vmm backend", "vmm", cfg.VMM, "chosen", choice.Name, "why", choice.Why)
	return reg.Build(env), choice.Name, nil
}

// vmDefaults are the resources of a new VM that asks for none: the
// config's defaults, fitted to the backend new VMs run on (chosen).
func vmDefaults(ctx context.Context, cfg *config.Config, reg *vmm.Registry, chosen string, log *slog.Logger) vm.Defaults {
	r := cfg.Resolved.Fit(reg.Hints(ctx, cfg.VMMEnv(log), chosen))
	log.InfoContext(ctx, "vm defaults", "vcpu", r.VCPUs.Value, "vcpu_why", r.VCPUs.Why, "memory_mib", r.MemoryMiB.Value,
		"disk_bytes", r.DiskBytes.Value, "root_bytes", r.RootBytes.Value)
	return vm.Defaults{VCPUs: r.VCPUs.Value, MemoryMiB: r.MemoryMiB.Value, DiskBytes: r.DiskBytes.Value, RootBytes: r.RootBytes.Value,
		FitVCPUs: func(h vmm.Hints) int { return r.Fit(h).VCPUs.Value }}
}
