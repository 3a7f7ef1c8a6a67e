package qemu

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"banger/internal/hosttools"
	"banger/internal/vmm"
	"banger/internal/vmm/kvm"
)

const (
	// commandTimeout bounds every command the checks run.
	commandTimeout = 15 * time.Second

	tcgExplanation = "VMs boot under QEMU TCG software emulation, roughly 5-20x slower to boot"
	kvmNoGuestText = "KVM is present but cannot run a guest kernel here (e.g. nested virtualization without full support)"
)

// kvmChecks reports on /dev/kvm and on whether KVM can boot a guest; how
// bad a problem is depends on accel.
func kvmChecks(env vmm.Env, accel string, v kvm.Verdict) []vmm.Check {
	forced := accel == "kvm"
	bad := vmm.CheckWarn
	switch accel {
	case "kvm":
		bad = vmm.CheckFail
	case "tcg":
		bad = vmm.CheckInfo // KVM is not used anyway
	}
	c := vmm.Check{Name: "kvm", Hard: forced}
	switch v.State {
	case kvm.Missing:
		c.Status = bad
		c.Detail = fmt.Sprintf("%s not found: no hardware virtualization; %s", v.Device, tcgExplanation)
		if forced {
			c.Detail = fmt.Sprintf("%s not found, but the config forces accel=kvm: VMs will not start", v.Device)
		}
		c.Fix = kvmModuleFix(env.Host.WithDefaults().ProcRoot)
		return []vmm.Check{c}
	case kvm.Unusable:
		c.Status = bad
		c.Detail = fmt.Sprintf("%s exists but cannot be opened (%v); %s", v.Device, v.DevErr, tcgExplanation)
		if forced {
			c.Detail = fmt.Sprintf("%s exists but cannot be opened (%v), and the config forces accel=kvm: VMs will not start", v.Device, v.DevErr)
		}
		c.Fix = fmt.Sprintf("run as root and check that %s is character device 10,232 (ls -l %s); in a container, pass --device /dev/kvm", v.Device, v.Device)
		return []vmm.Check{c}
	}
	c.Status = vmm.CheckOK
	c.Detail = v.Device + " present and openable"
	return []vmm.Check{c, guestCheck(accel, v)}
}

// guestCheck reports the KVM test boot.
func guestCheck(accel string, v kvm.Verdict) vmm.Check {
	g := vmm.Check{Name: "kvm guest", Hard: accel == "kvm"}
	switch {
	case !v.Probed:
		g.Status = vmm.CheckInfo
		g.Detail = "not probed: no guest kernel is available yet to test-boot under KVM; run banger doctor again once an image is built"
		return g
	case v.Err != nil:
		g.Status = vmm.CheckWarn
		g.Detail = fmt.Sprintf("could not test-boot a guest under KVM: %v", v.Err)
		g.Fix = "check the qemu lines of this report, then run banger doctor again"
		return g
	case v.State == kvm.Works:
		g.Status = vmm.CheckOK
		g.Detail = withProbeDetail("a test guest booted under KVM", v.Detail)
		return g
	}
	switch accel {
	case "kvm":
		g.Status = vmm.CheckFail
		g.Detail = withProbeDetail(kvmNoGuestText+"; the config forces accel=kvm, so VMs will not start", v.Detail)
		g.Fix = `set accel = "auto" (or "tcg") in the banger config to use software emulation, or run banger on bare metal or a VM with full nested virtualization`
	case "tcg":
		g.Status = vmm.CheckInfo
		g.Detail = withProbeDetail(kvmNoGuestText+"; the config sets accel=tcg, so KVM is not used anyway", v.Detail)
	default:
		g.Status = vmm.CheckWarn
		g.Detail = withProbeDetail(kvmNoGuestText+"; "+tcgExplanation+". With accel="+accel+" banger uses tcg", v.Detail)
		g.Fix = "nothing is required; for KVM speed run banger on bare metal or in a VM whose hypervisor exposes full nested virtualization (kvm_intel/kvm_amd nested=1 on the outer host)"
	}
	return g
}

func withProbeDetail(s, detail string) string {
	detail = strings.TrimSpace(detail)
	if detail == "" {
		return s
	}
	return s + " (probe: " + detail + ")"
}

// kvmModuleFix names the module to load, judged from the CPU flags.
func kvmModuleFix(procRoot string) string {
	const tail = "; in a container, pass --device /dev/kvm"
	b, err := os.ReadFile(filepath.Join(procRoot, "cpuinfo"))
	if err != nil {
		return "enable VT-x/AMD-V in the firmware (or nested virtualization in the outer hypervisor), then modprobe kvm_intel or modprobe kvm_amd" + tail
	}
	flags := cpuFlags(string(b))
	switch {
	case flags["vmx"]:
		return "modprobe kvm_intel (the CPU has VT-x)" + tail
	case flags["svm"]:
		return "modprobe kvm_amd (the CPU has AMD-V)" + tail
	default:
		return "the CPU exposes no vmx/svm flag: enable VT-x/AMD-V in the firmware, or nested virtualization in the outer hypervisor, then modprobe kvm_intel or kvm_amd" + tail
	}
}

func cpuFlags(cpuinfo string) map[string]bool {
	flags := map[string]bool{}
	for line := range strings.SplitSeq(cpuinfo, "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(key) != "flags" {
			continue
		}
		for _, f := range strings.Fields(val) {
			flags[f] = true
		}
	}
	return flags
}

// chooseAccel reports the accelerator the accel setting and the KVM state
// give QEMU VMs.
func chooseAccel(accel string, k kvm.State) vmm.Check {
	c := vmm.Check{Name: "accel", Status: vmm.CheckInfo}
	switch accel {
	case "tcg":
		c.Detail = "tcg (set by config accel=tcg; software emulation, roughly 5-20x slower to boot)"
	case "kvm":
		c.Hard = true
		switch k {
		case kvm.Works:
			c.Detail = "kvm (set by config accel=kvm)"
		case kvm.Unverified:
			c.Detail = "kvm (set by config accel=kvm; not yet verified by booting a guest)"
		default:
			c.Status = vmm.CheckFail
			c.Detail = "kvm is forced by config accel=kvm but " + k.Reason() + ": VMs will not start"
			c.Fix = `set accel = "auto" in the banger config to fall back to TCG, or fix KVM (see the kvm lines above)`
		}
	case "auto":
		switch k {
		case kvm.Works:
			c.Detail = "kvm (accel=auto: KVM runs guests)"
		case kvm.Unverified:
			c.Detail = "kvm (accel=auto: /dev/kvm is usable; not yet verified by booting a guest)"
		default:
			c.Detail = "tcg (accel=auto: " + k.Reason() + "; " + tcgExplanation + ")"
		}
	default:
		c.Status = vmm.CheckFail
		c.Hard = true
		c.Detail = fmt.Sprintf("unknown accel %q in the config", accel)
		c.Fix = `set accel to "auto", "kvm" or "tcg" in the banger config`
	}
	return c
}

var versionRE = regexp.MustCompile(`\bv?(\d+\.\d+(?:\.\d+)*)`)

// parseVersion returns the first dotted version number in out, e.g. 7.2.22
// from "QEMU emulator version 7.2.22 (Debian ...)".
func parseVersion(out string) string {
	m := versionRE.FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

func missingStatus(hard bool) vmm.CheckStatus {
	if hard {
		return vmm.CheckFail
	}
	return vmm.CheckWarn
}

// programChecks checks the QEMU binary, its version and microvm support,
// and qemu-img. They are hard requirements when QEMU is the chosen backend.
func programChecks(ctx context.Context, env vmm.Env, hard bool) []vmm.Check {
	h := env.Host.WithDefaults()
	run := func(name string, args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, commandTimeout)
		defer cancel()
		return h.Run(ctx, name, args...)
	}
	ts := tools(env.Settings)
	bin, img := ts[0], ts[1]
	pkgFix := "apt-get install " + bin.Package
	bad := missingStatus(hard)
	why := ""
	if !hard {
		why = " (not the chosen backend; needed only as a fallback)"
	}
	q := vmm.Check{Name: "qemu", Hard: hard}
	path, err := h.LookPath(bin.Name)
	if err != nil {
		q.Status, q.Detail, q.Fix = bad, fmt.Sprintf("%s not found on PATH%s", bin.Name, why), pkgFix
		return []vmm.Check{q, imgCheck(h, img, hard)}
	}
	out, err := run(path, "--version")
	if err != nil {
		q.Status, q.Detail = bad, fmt.Sprintf("%s --version failed: %v: %s", path, err, firstLine(out))
		q.Fix = "apt-get install --reinstall " + bin.Package
		return []vmm.Check{q, imgCheck(h, img, hard)}
	}
	version := parseVersion(out)
	if version == "" {
		version = "(unknown version: " + firstLine(out) + ")"
	}
	q.Status, q.Detail = vmm.CheckOK, fmt.Sprintf("%s %s (%s)", filepath.Base(path), version, path)

	m := vmm.Check{Name: "qemu microvm", Hard: hard}
	out, err = run(path, "-M", "help")
	switch {
	case err != nil:
		m.Status, m.Detail = bad, fmt.Sprintf("%s -M help failed: %v: %s", path, err, firstLine(out))
		m.Fix = "apt-get install --reinstall " + bin.Package
	case hasMachine(out, "microvm"):
		m.Status, m.Detail = vmm.CheckOK, "supports -M microvm"
	default:
		m.Status = bad
		m.Detail = fmt.Sprintf("%s does not support -M microvm (QEMU 4.2 or newer built with microvm is needed)%s", path, why)
		m.Fix = pkgFix + " from Debian 11 or newer"
	}
	return []vmm.Check{q, m, imgCheck(h, img, hard)}
}

// hasMachine reports whether `qemu -M help` output lists machine name.
func hasMachine(help, name string) bool {
	for line := range strings.SplitSeq(help, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

func imgCheck(h vmm.Host, img hosttools.Tool, hard bool) vmm.Check {
	c := vmm.Check{Name: img.Name, Hard: hard}
	path, err := h.LookPath(img.Name)
	if err != nil {
		c.Status, c.Detail, c.Fix = missingStatus(hard), img.Name+" not found on PATH", "apt-get install "+img.Package
		return c
	}
	c.Status, c.Detail = vmm.CheckOK, path
	return c
}
