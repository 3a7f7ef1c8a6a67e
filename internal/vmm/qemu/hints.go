package qemu

import (
	"context"

	"banger/internal/vmm"
	"banger/internal/vmm/kvm"
)

// tcgVCPUs is the fewest vCPUs a VM gets by default under TCG: on a 2-core
// host a second vCPU cut a boot from 20.8 s to 13.9 s.
const tcgVCPUs = 2

// hints are QEMU's wishes for the defaults of new VMs: where its guests
// run under TCG (the config says accel=tcg, or KVM cannot run guests
// here), a second vCPU. Where KVM is not verified yet, the guests are
// taken to run under KVM.
func hints(ctx context.Context, env vmm.Env) vmm.Hints {
	switch env.Settings.String(AccelKey) {
	case "kvm":
		return vmm.Hints{}
	case "tcg":
		return tcgHints("TCG, set by accel = \"tcg\"")
	}
	v := kvm.Assess(ctx, env)
	if v.State == kvm.Works || v.State == kvm.Unverified {
		return vmm.Hints{}
	}
	return tcgHints("TCG, as " + v.State.Reason())
}

func tcgHints(why string) vmm.Hints {
	return vmm.Hints{MinVCPUs: tcgVCPUs, Why: why + ": a second vCPU halves the boot"}
}

var _ vmm.Advisor = (*Accelerated)(nil)

// Hints implements vmm.Advisor with the accelerator a VM booting kernel
// and initrd would get (the decision Start uses, cached for it).
func (a *Accelerated) Hints(ctx context.Context, kernel, initrd string) vmm.Hints {
	switch {
	case a.fixed == "tcg":
		return tcgHints("TCG, set by accel = \"tcg\"")
	case a.resolve(ctx, kernel, initrd) == "tcg":
		return tcgHints("TCG, as KVM cannot run this guest here")
	}
	return vmm.Hints{}
}
