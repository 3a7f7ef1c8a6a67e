package firecracker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"banger/internal/vmm"
	"banger/internal/vmm/kvm"
	"banger/internal/vmm/rootdisk"
)

// doctorChecks report the firecracker binary and its version, how root
// disks would be made, the jailer, and, when Firecracker is the backend,
// whether KVM can run its VMs.
func doctorChecks(ctx context.Context, env vmm.Env, role vmm.Role) []vmm.Check {
	h := env.Host.WithDefaults()
	path, err := h.LookPath(env.Settings.String(BinaryKey))
	out := []vmm.Check{versionCheck(ctx, env, h, path, err, role.Forced)}
	if err == nil {
		out = append(out, hostChecks(env, h)...)
	}
	if role.Chosen {
		out = append(out, kvmCheck(ctx, env))
	}
	return out
}

func versionCheck(ctx context.Context, env vmm.Env, h vmm.Host, path string, lookErr error, forced bool) vmm.Check {
	c := vmm.Check{Name: "firecracker", Hard: forced}
	if lookErr != nil {
		if forced {
			c.Status = vmm.CheckFail
			c.Detail = env.Settings.String(BinaryKey) + " not found on PATH, but the config sets vmm=firecracker"
			c.Fix = installHint
			return c
		}
		c.Status, c.Detail = vmm.CheckInfo, "not installed; another backend runs VMs"
		return c
	}
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	out, err := h.Run(rctx, path, "--version")
	if err != nil {
		c.Status = vmm.CheckFail
		if !forced {
			c.Status = vmm.CheckWarn
		}
		c.Detail = fmt.Sprintf("%s --version failed: %v: %s", path, err, firstLine(out))
		c.Fix = unsupportedReason
		return c
	}
	v, _ := parseVersion(out)
	ok, msg := CheckVersion(v)
	c.Detail = fmt.Sprintf("%s (%s)", msg, path)
	if !ok {
		c.Status, c.Fix = vmm.CheckWarn, "install a supported Firecracker release (docs/firecracker.md)"
		return c
	}
	c.Status = vmm.CheckOK
	return c
}

// hostChecks report how root disks would be made on this host, and, with
// the jailer, whether its chroot base shares a filesystem with the state
// directory (jails hard-link kernels and disks).
func hostChecks(env vmm.Env, h vmm.Host) []vmm.Check {
	dir := nearestExisting(env.StateDir)
	out := []vmm.Check{{Name: "fc root disk", Status: vmm.CheckInfo,
		Detail: "Firecracker root disks: " + rootdisk.RealHost().Probe(dir)}}
	if _, err := h.LookPath(env.Settings.String(JailerKey)); err != nil {
		return append(out, vmm.Check{Name: "jailer", Status: vmm.CheckInfo, Detail: "jailer not installed; Firecracker VMs run without it"})
	}
	base := env.Settings.String(ChrootBaseKey)
	if base == "" {
		base = DefaultChrootBase
	}
	same, err := SameFilesystem(nearestExisting(base), dir)
	switch {
	case err != nil:
		return append(out, vmm.Check{Name: "jailer", Status: vmm.CheckWarn, Detail: err.Error(), Fix: "create " + base + " on the filesystem of " + env.StateDir})
	case !same:
		return append(out, vmm.Check{Name: "jailer", Status: vmm.CheckWarn,
			Detail: fmt.Sprintf("chroot base %s is not on the filesystem of %s, so kernels and disks cannot be hard-linked into jails", base, env.StateDir),
			Fix:    "set " + ChrootBaseKey + " to a directory on the same filesystem as state_dir"})
	}
	return append(out, vmm.Check{Name: "jailer", Status: vmm.CheckOK, Detail: fmt.Sprintf("chroot base %s shares a filesystem with %s", base, env.StateDir)})
}

// kvmCheck says whether KVM can run Firecracker VMs, which have no
// software fallback.
func kvmCheck(ctx context.Context, env vmm.Env) vmm.Check {
	c := vmm.Check{Name: "firecracker kvm", Hard: true, Status: vmm.CheckFail,
		Fix: `set vmm = "auto" in the banger config, or fix KVM (see the kvm lines)`}
	if !kvm.Wanted(env.Settings) {
		c.Detail = "firecracker needs KVM, and the config sets accel=tcg"
		return c
	}
	switch st := kvm.Assess(ctx, env).State; st {
	case kvm.Works:
		c.Status, c.Detail, c.Fix = vmm.CheckOK, "KVM runs guests", ""
	case kvm.Unverified:
		c.Status, c.Detail, c.Fix = vmm.CheckInfo, "KVM not yet verified by booting a guest", ""
	default:
		c.Detail = "firecracker needs KVM, and " + st.Reason()
	}
	return c
}

// nearestExisting returns path or its closest ancestor that exists.
func nearestExisting(path string) string {
	p := filepath.Clean(path)
	for {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p
		}
		p = parent
	}
}
