package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"banger/internal/doctor"
	"banger/internal/units"
	"banger/internal/vmm/qemu"
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
			in := doctor.Inputs{
				StateDir: cfg.StateDir, RuntimeDir: cfg.RuntimeDir, VMM: cfg.VMM, Accel: cfg.Accel,
				QEMUBin: cfg.QEMUBin, FirecrackerBin: cfg.FirecrackerBin, JailerBin: cfg.JailerBin, BridgeName: cfg.BridgeName,
			}
			if kernel, initrd := a.probeKernel(); kernel != "" {
				in.KVMProbe = func(ctx context.Context) (bool, string, error) {
					r, err := qemu.ProbeCache{Path: filepath.Join(cfg.CacheDir(), "kvm-probe.json"), Binary: cfg.QEMUBin,
						Kernel: kernel, Initrd: initrd}.Result(ctx)
					return r.OK, r.Detail, err
				}
			}
			rep := doctor.Run(cmd.Context(), in)
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

// probeKernel finds a kernel to run the KVM probe with: the default image's
// kernel when it has been built, otherwise none (the probe then runs at the
// first VM start).
func (a *app) probeKernel() (string, string) {
	dir := filepath.Join(a.cfg.KernelsDir(), a.cfg.DefaultImage)
	kernel := filepath.Join(dir, "vmlinuz")
	if _, err := os.Stat(kernel); err != nil {
		return "", ""
	}
	initrd := filepath.Join(dir, "initrd.img")
	if _, err := os.Stat(initrd); err != nil {
		initrd = ""
	}
	return kernel, initrd
}
