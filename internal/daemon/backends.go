package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"banger/internal/config"
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
