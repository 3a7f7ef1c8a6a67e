package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"banger/internal/config"
	"banger/internal/doctor"
	"banger/internal/units"
)

func (a *app) doctorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check the host's requirements and say how to fix what is missing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.loadConfig(); err != nil {
				return err
			}
			cfg := a.cfg
			rep := doctor.Run(cmd.Context(), doctor.Inputs{
				StateDir: cfg.StateDir, RuntimeDir: cfg.RuntimeDir, BridgeName: cfg.BridgeName,
				VMM: cfg.VMM, Backends: a.backends, Env: cfg.VMMEnv(nil),
			})
			rep.Write(a.stdout)
			doctor.WriteDefaults(a.stdout, a.vmDefaults(cmd.Context(), rep.VMM))
			if rep.Failed() {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
}

// vmDefaults are the defaults of new VMs on backend, as the daemon fits
// them, with their reasons.
func (a *app) vmDefaults(ctx context.Context, backend string) []doctor.Default {
	r := a.cfg.Resolved.Fit(a.backends.Hints(ctx, a.cfg.VMMEnv(nil), backend))
	size := func(name string, v config.Resolved[int64]) doctor.Default {
		return doctor.Default{Name: name, Value: units.FormatSize(v.Value), Source: string(v.Source), Why: v.Why}
	}
	return []doctor.Default{
		{Name: "vcpu", Value: fmt.Sprint(r.VCPUs.Value), Source: string(r.VCPUs.Source), Why: r.VCPUs.Why},
		{Name: "memory", Value: fmt.Sprintf("%d MiB", r.MemoryMiB.Value), Source: string(r.MemoryMiB.Source), Why: r.MemoryMiB.Why},
		size("disk", r.DiskBytes),
		size("root size", r.RootBytes),
	}
}
