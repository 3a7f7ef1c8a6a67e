package cli

import (
	"fmt"

	"github.com/spf13/cobra"

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
			r := cfg.Resolved
			fmt.Fprintf(a.stdout, "\nVM defaults: %d vcpu (%s) · %d MiB (%s) · %s disk (%s)\n",
				r.VCPUs.Value, r.VCPUs.Source, r.MemoryMiB.Value, r.MemoryMiB.Source,
				units.FormatSize(r.DiskBytes.Value), r.DiskBytes.Source)
			if rep.Failed() {
				return &ExitError{Code: 1}
			}
			return nil
		},
	}
}
