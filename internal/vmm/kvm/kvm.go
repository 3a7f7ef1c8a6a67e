// Package kvm finds out whether KVM can run guests on this host: the
// /dev/kvm device, and a test boot of a guest kernel under KVM (with QEMU,
// the one VMM every host has), cached per QEMU version and kernel. The
// backends that need KVM share it.
package kvm

import (
	"context"
	"os"
	"path/filepath"

	"banger/internal/vmm"
)

// Settings keys the KVM assessment reads. accel belongs to the backend that
// declares it; "tcg" means the user does not want KVM used.
const (
	AccelKey   = "accel"
	BinaryKey  = "qemu_bin"
	probeCache = "kvm-probe.json"
)

// State is what is known about KVM on this host.
type State int

// KVM states, from worst to best.
const (
	Missing    State = iota // no /dev/kvm
	Unusable                // /dev/kvm exists but cannot be opened
	Unverified              // /dev/kvm opens; no guest boot was tried or the probe errored
	NoGuest                 // the probe says KVM cannot run a guest
	Works                   // the probe booted a guest under KVM
)

// Reason says what the state means, for messages.
func (s State) Reason() string {
	switch s {
	case Missing:
		return "/dev/kvm is missing"
	case Unusable:
		return "/dev/kvm cannot be opened"
	case Unverified:
		return "KVM is not yet verified by booting a guest"
	case NoGuest:
		return "KVM cannot run a guest kernel here"
	default:
		return "KVM runs guests"
	}
}

// Verdict is the outcome of Assess.
type Verdict struct {
	State  State
	Device string // the /dev/kvm path looked at
	DevErr error  // why the device cannot be opened (Unusable)
	Probed bool   // a test boot was tried (or its cached result read)
	Detail string // the probe's detail
	Err    error  // the probe failed without saying anything about KVM
}

// Assess looks at /dev/kvm and, when it opens, test-boots a guest: through
// env.Host.KVMProbe when set, otherwise with env's probe kernel and the
// cached real probe; without a kernel the state stays Unverified.
func Assess(ctx context.Context, env vmm.Env) Verdict {
	h := env.Host.WithDefaults()
	v := Verdict{Device: filepath.Join(h.DevRoot, "kvm")}
	if _, err := os.Stat(v.Device); err != nil {
		v.State = Missing
		return v
	}
	f, err := os.OpenFile(v.Device, os.O_RDWR, 0)
	if err != nil {
		v.State, v.DevErr = Unusable, err
		return v
	}
	_ = f.Close()
	probe := env.Host.KVMProbe
	if probe == nil && env.ProbeKernel != "" {
		probe = func(ctx context.Context) (bool, string, error) {
			r, err := Cache(env, env.ProbeKernel, env.ProbeInitrd).Result(ctx)
			return r.OK, r.Detail, err
		}
	}
	if probe == nil {
		v.State = Unverified
		return v
	}
	ok, detail, err := probe(ctx)
	v.Probed, v.Detail, v.Err = true, detail, err
	switch {
	case err != nil:
		v.State = Unverified
	case ok:
		v.State = Works
	default:
		v.State = NoGuest
	}
	return v
}

// Cache is the probe cache for kernel and initrd under env's cache dir.
func Cache(env vmm.Env, kernel, initrd string) ProbeCache {
	return ProbeCache{Path: filepath.Join(env.CacheDir, probeCache), Binary: env.Settings.String(BinaryKey), Kernel: kernel, Initrd: initrd}
}

// Wanted reports whether the config lets backends use KVM (accel is not
// "tcg").
func Wanted(s vmm.Settings) bool { return s.String(AccelKey) != "tcg" }
