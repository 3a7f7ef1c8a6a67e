package vmm

import "context"

// Hints are what a backend asks of the defaults of new VMs on this host.
// The config's own values always win over them.
type Hints struct {
	// MinVCPUs is the fewest vCPUs a VM should get by default (0: no
	// wish), and Why says why, e.g. "TCG: a second vCPU halves the boot".
	MinVCPUs int
	Why      string
}

// Hints asks the backend called name for its hints on this host (none
// when it has no Defaults hook or is not registered).
func (r *Registry) Hints(ctx context.Context, env Env, name string) Hints {
	b, ok := r.Lookup(name)
	if !ok || b.Defaults == nil {
		return Hints{}
	}
	return b.Defaults(ctx, env)
}

// Advisor is a backend that decides per guest kernel how its guests run
// (e.g. QEMU's accelerator, from a test boot of that kernel), so it can
// give the hints for a VM that boots kernel and initrd. The VM service
// asks it when a request leaves the vCPUs to the defaults.
type Advisor interface {
	Hints(ctx context.Context, kernel, initrd string) Hints
}
