package qemu

import (
	"context"
	"fmt"
	"strconv"

	"banger/internal/hosttools"
	"banger/internal/vmm"
	"banger/internal/vmm/kvm"
)

// Name is the backend's name, the value of vmm that selects it.
const Name = "qemu"

// The config keys the QEMU backend owns, and their defaults.
const (
	AccelKey      = kvm.AccelKey // auto, kvm or tcg
	BinaryKey     = kvm.BinaryKey
	DefaultAccel  = "auto"
	DefaultBinary = "qemu-system-x86_64"
	imgTool       = "qemu-img"
)

// Rank is QEMU's place in the "auto" order: below backends that need KVM,
// since QEMU boots anywhere (TCG when KVM cannot run guests).
const Rank = 10

// Backend describes the QEMU backend to a vmm.Registry.
func Backend() vmm.Backend {
	return vmm.Backend{
		Name: Name,
		Rank: Rank,
		Settings: []vmm.Setting{
			{Key: AccelKey, Default: DefaultAccel},
			{Key: BinaryKey, Default: DefaultBinary},
			// Every backend reads it (Firecracker's jailer too); QEMU,
			// which runs everywhere, declares it.
			{Key: vmm.UIDBaseKey, Default: strconv.Itoa(vmm.DefaultUIDBase)},
		},
		Tools:    tools,
		Validate: validateSettings,
		New:      func(env vmm.Env) (vmm.VMM, error) { return NewAccelerated(env), nil },
		Doctor:   doctorChecks,
		Defaults: hints,
	}
}

// tools are the programs QEMU VMs need: the emulator and qemu-img, which
// makes their qcow2 root disks.
func tools(s vmm.Settings) []hosttools.Tool {
	bin := s.String(BinaryKey)
	if bin == "" {
		bin = DefaultBinary
	}
	return []hosttools.Tool{{Name: bin, Package: "qemu-system-x86"}, {Name: imgTool, Package: "qemu-utils"}}
}

func requireTools(env vmm.Env) error {
	return hosttools.RequireTools(env.Host.LookPath, tools(env.Settings)...)
}

func validateSettings(s vmm.Settings) []error {
	var errs []error
	switch a := s.String(AccelKey); a {
	case "auto", "kvm", "tcg":
	default:
		errs = append(errs, fmt.Errorf("%s %q is not valid: use one of auto, kvm, tcg", AccelKey, a))
	}
	if err := vmm.CheckProgram(BinaryKey, s.String(BinaryKey)); err != nil {
		errs = append(errs, err)
	}
	if _, err := vmm.ParseUIDBase(s.String(vmm.UIDBaseKey)); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// doctorChecks are the KVM lines, the accelerator decision and the QEMU
// programs. The programs are hard requirements when QEMU is chosen.
func doctorChecks(ctx context.Context, env vmm.Env, role vmm.Role) []vmm.Check {
	v := kvm.Assess(ctx, env)
	accel := env.Settings.String(AccelKey)
	out := kvmChecks(env, accel, v)
	out = append(out, chooseAccel(accel, v.State))
	return append(out, programChecks(ctx, env, role.Chosen)...)
}
