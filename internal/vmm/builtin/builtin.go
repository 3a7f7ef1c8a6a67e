// Package builtin lists the VMM backends built into banger. It is the one
// place that names them; everything else asks the registry it returns.
package builtin

import (
	"banger/internal/vmm"
	"banger/internal/vmm/firecracker"
	"banger/internal/vmm/qemu"
)

// Registry returns a registry of the built-in backends: QEMU, then
// Firecracker.
func Registry() *vmm.Registry {
	r, err := vmm.NewRegistry(qemu.Backend(), firecracker.Backend())
	if err != nil {
		panic(err) // the built-in backends' names and keys are unique
	}
	return r
}
