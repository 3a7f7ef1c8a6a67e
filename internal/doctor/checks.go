package doctor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"banger/internal/hosttools"
	"banger/internal/vmm/firecracker"
	"time"
)

const (
	gib = uint64(1) << 30
	// DiskWarnBytes and DiskFailBytes are the free-space thresholds for the
	// file system holding the state directory.
	DiskWarnBytes = 10 * gib
	DiskFailBytes = 2 * gib

	// commandTimeout bounds every external command doctor runs.
	commandTimeout = 15 * time.Second

	tcgExplanation = "VMs boot under QEMU TCG software emulation, roughly 5-20x slower to boot"
	kvmNoGuestText = "KVM is present but cannot run a guest kernel here (e.g. nested virtualization without full support)"
)

// kvmState is what doctor learned about KVM on this host.
type kvmState int

const (
	kvmMissing    kvmState = iota // no /dev/kvm
	kvmUnusable                   // /dev/kvm exists but cannot be opened
	kvmUnverified                 // /dev/kvm opens; no guest boot was tried or the probe errored
	kvmNoGuest                    // the probe says KVM cannot run a guest
	kvmWorks                      // the probe booted a guest under KVM
)

func (k kvmState) reason() string {
	switch k {
	case kvmMissing:
		return "/dev/kvm is missing"
	case kvmUnusable:
		return "/dev/kvm cannot be opened"
	case kvmUnverified:
		return "KVM is not yet verified by booting a guest"
	case kvmNoGuest:
		return "KVM cannot run a guest kernel here"
	default:
		return "KVM runs guests"
	}
}

// Run checks the host against banger's requirements. It never changes the
// host. Nil hooks and empty roots in in are replaced by the real host.
func Run(ctx context.Context, in Inputs) Report {
	in = in.withDefaults()
	var r Report
	add := func(cs ...Check) { r.Checks = append(r.Checks, cs...) }

	add(checkRoot(in))

	kvmChecks, kvm := checkKVM(ctx, in)
	add(kvmChecks...)

	fcPath, fcErr := in.LookPath(in.FirecrackerBin)
	accelCheck, accel := chooseAccel(in.Accel, kvm)
	add(accelCheck)
	vmmCheck, backend := chooseVMM(in.VMM, in.Accel, kvm, fcErr == nil)
	add(vmmCheck)
	r.Accel, r.VMM = accel, backend
	if backend == "firecracker" {
		r.Accel = "kvm" // firecracker only runs on KVM
	}

	add(checkQEMU(ctx, in, backend == "qemu")...)
	add(checkFirecracker(ctx, in, fcPath, fcErr, in.VMM == "firecracker"))
	if fcErr == nil {
		for _, c := range checkFirecrackerHost(in) {
			add(c)
		}
	}
	for _, t := range tools {
		add(checkTool(in, t))
	}
	add(checkTun(in), checkBridge(ctx, in), checkVsock(in))
	add(checkDisk(in))
	add(checkDir(in, "state dir", "state_dir", in.StateDir))
	add(checkDir(in, "runtime dir", "runtime_dir", in.RuntimeDir))
	return r
}

func checkRoot(in Inputs) Check {
	c := Check{Name: "root", Hard: true}
	if uid := in.Geteuid(); uid != 0 {
		c.Status = StatusFail
		c.Detail = fmt.Sprintf("running as uid %d; bangerd needs root to create tap devices and bridges", uid)
		c.Fix = "run as root: sudo banger doctor, and start bangerd as root (e.g. from its systemd unit)"
		return c
	}
	c.Status = StatusOK
	c.Detail = "running as root"
	return c
}

// checkKVM reports on /dev/kvm and on whether KVM can boot a guest.
func checkKVM(ctx context.Context, in Inputs) ([]Check, kvmState) {
	forced := in.Accel == "kvm"
	bad := StatusWarn
	switch in.Accel {
	case "kvm":
		bad = StatusFail
	case "tcg":
		bad = StatusInfo // KVM is not used anyway
	}
	dev := filepath.Join(in.DevRoot, "kvm")
	c := Check{Name: "kvm", Hard: forced}

	if _, err := os.Stat(dev); err != nil {
		c.Status = bad
		c.Detail = fmt.Sprintf("%s not found: no hardware virtualization; %s", dev, tcgExplanation)
		if forced {
			c.Detail = fmt.Sprintf("%s not found, but the config forces accel=kvm: VMs will not start", dev)
		}
		c.Fix = kvmModuleFix(in)
		return []Check{c}, kvmMissing
	}
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		c.Status = bad
		c.Detail = fmt.Sprintf("%s exists but cannot be opened (%v); %s", dev, err, tcgExplanation)
		if forced {
			c.Detail = fmt.Sprintf("%s exists but cannot be opened (%v), and the config forces accel=kvm: VMs will not start", dev, err)
		}
		c.Fix = fmt.Sprintf("run as root and check that %s is character device 10,232 (ls -l %s); in a container, pass --device /dev/kvm", dev, dev)
		return []Check{c}, kvmUnusable
	}
	_ = f.Close()
	c.Status = StatusOK
	c.Detail = dev + " present and openable"

	g := Check{Name: "kvm guest", Hard: forced}
	if in.KVMProbe == nil {
		g.Status = StatusInfo
		g.Detail = "not probed: no guest kernel is available yet to test-boot under KVM; run banger doctor again once an image is built"
		return []Check{c, g}, kvmUnverified
	}
	ok, detail, err := in.KVMProbe(ctx)
	switch {
	case err != nil:
		g.Status = StatusWarn
		g.Detail = fmt.Sprintf("could not test-boot a guest under KVM: %v", err)
		g.Fix = "check the qemu lines of this report, then run banger doctor again"
		return []Check{c, g}, kvmUnverified
	case ok:
		g.Status = StatusOK
		g.Detail = withProbeDetail("a test guest booted under KVM", detail)
		return []Check{c, g}, kvmWorks
	}
	switch in.Accel {
	case "kvm":
		g.Status = StatusFail
		g.Detail = withProbeDetail(kvmNoGuestText+"; the config forces accel=kvm, so VMs will not start", detail)
		g.Fix = `set accel = "auto" (or "tcg") in the banger config to use software emulation, or run banger on bare metal or a VM with full nested virtualization`
	case "tcg":
		g.Status = StatusInfo
		g.Detail = withProbeDetail(kvmNoGuestText+"; the config sets accel=tcg, so KVM is not used anyway", detail)
	default:
		g.Status = StatusWarn
		g.Detail = withProbeDetail(kvmNoGuestText+"; "+tcgExplanation+". With accel="+in.Accel+" banger uses tcg", detail)
		g.Fix = "nothing is required; for KVM speed run banger on bare metal or in a VM whose hypervisor exposes full nested virtualization (kvm_intel/kvm_amd nested=1 on the outer host)"
	}
	return []Check{c, g}, kvmNoGuest
}

func withProbeDetail(s, detail string) string {
	detail = strings.TrimSpace(detail)
	if detail == "" {
		return s
	}
	return s + " (probe: " + detail + ")"
}

// kvmModuleFix names the module to load, judged from the CPU flags.
func kvmModuleFix(in Inputs) string {
	const tail = "; in a container, pass --device /dev/kvm"
	b, err := os.ReadFile(filepath.Join(in.ProcRoot, "cpuinfo"))
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

// chooseAccel decides the QEMU accelerator from the accel setting and KVM
// state. It returns "" when no usable accelerator follows from the config.
func chooseAccel(accel string, kvm kvmState) (Check, string) {
	c := Check{Name: "accel", Status: StatusInfo}
	switch accel {
	case "tcg":
		c.Detail = "tcg (set by config accel=tcg; software emulation, roughly 5-20x slower to boot)"
		return c, "tcg"
	case "kvm":
		c.Hard = true
		switch kvm {
		case kvmWorks:
			c.Detail = "kvm (set by config accel=kvm)"
		case kvmUnverified:
			c.Detail = "kvm (set by config accel=kvm; not yet verified by booting a guest)"
		default:
			c.Status = StatusFail
			c.Detail = "kvm is forced by config accel=kvm but " + kvm.reason() + ": VMs will not start"
			c.Fix = `set accel = "auto" in the banger config to fall back to TCG, or fix KVM (see the kvm lines above)`
			return c, ""
		}
		return c, "kvm"
	case "auto":
		switch kvm {
		case kvmWorks:
			c.Detail = "kvm (accel=auto: KVM runs guests)"
			return c, "kvm"
		case kvmUnverified:
			c.Detail = "kvm (accel=auto: /dev/kvm is usable; not yet verified by booting a guest)"
			return c, "kvm"
		default:
			c.Detail = "tcg (accel=auto: " + kvm.reason() + "; " + tcgExplanation + ")"
			return c, "tcg"
		}
	default:
		c.Status = StatusFail
		c.Hard = true
		c.Detail = fmt.Sprintf("unknown accel %q in the config", accel)
		c.Fix = `set accel to "auto", "kvm" or "tcg" in the banger config`
		return c, ""
	}
}

// chooseVMM decides the backend from the vmm and accel config values: with
// vmm=auto, firecracker only when it is installed and KVM is known to run
// guests, since it has no software fallback; otherwise qemu.
func chooseVMM(vmm, accel string, kvm kvmState, fcFound bool) (Check, string) {
	c := Check{Name: "vmm", Status: StatusInfo}
	switch vmm {
	case "qemu":
		c.Detail = "qemu (set by config vmm=qemu)"
		return c, "qemu"
	case "firecracker":
		c.Hard = true
		c.Status = StatusFail
		c.Fix = `set vmm = "auto" or "qemu" in the banger config`
		switch {
		case !fcFound:
			c.Detail = "firecracker is set by config vmm=firecracker but is not installed"
			c.Fix = "install a firecracker release binary (https://github.com/firecracker-microvm/firecracker/releases; not packaged in Debian) on PATH, or " + c.Fix
		case accel == "tcg":
			c.Detail = "firecracker is set by config vmm=firecracker but needs KVM, and the config sets accel=tcg"
		case kvm != kvmWorks && kvm != kvmUnverified:
			c.Detail = "firecracker is set by config vmm=firecracker but needs KVM, and " + kvm.reason()
		default:
			c.Status = StatusInfo
			c.Fix = ""
			c.Detail = "firecracker (set by config vmm=firecracker)"
			if kvm == kvmUnverified {
				c.Detail = "firecracker (set by config vmm=firecracker; KVM not yet verified by booting a guest)"
			}
			return c, "firecracker"
		}
		return c, ""
	case "auto":
		switch {
		case accel == "tcg":
			c.Detail = "qemu (vmm=auto: accel is tcg and firecracker needs KVM)"
		case !fcFound:
			c.Detail = "qemu (vmm=auto: firecracker is not installed)"
		case kvm != kvmWorks:
			c.Detail = "qemu (vmm=auto: firecracker is installed but needs KVM and " + kvm.reason() + "; qemu can fall back to TCG)"
		default:
			c.Detail = "firecracker (vmm=auto: firecracker is installed and KVM runs guests)"
			return c, "firecracker"
		}
		return c, "qemu"
	default:
		c.Status = StatusFail
		c.Hard = true
		c.Detail = fmt.Sprintf("unknown vmm %q in the config", vmm)
		c.Fix = `set vmm to "auto", "qemu" or "firecracker" in the banger config`
		return c, ""
	}
}

var versionRE = regexp.MustCompile(`\bv?(\d+\.\d+(?:\.\d+)*)`)

// parseVersion returns the first dotted version number in out, e.g. 7.2.22
// from "QEMU emulator version 7.2.22 (Debian ...)" or 1.7.0 from
// "Firecracker v1.7.0".
func parseVersion(out string) string {
	m := versionRE.FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

func run(ctx context.Context, in Inputs, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	return in.Run(ctx, name, args...)
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func missingStatus(hard bool) Status {
	if hard {
		return StatusFail
	}
	return StatusWarn
}

// checkQEMU checks the QEMU binary, its version and microvm support, and
// qemu-img. They are hard requirements when qemu is the chosen backend.
func checkQEMU(ctx context.Context, in Inputs, hard bool) []Check {
	const pkgFix = "apt-get install qemu-system-x86"
	bad := missingStatus(hard)
	why := ""
	if !hard {
		why = " (not the chosen backend; needed only as a fallback)"
	}
	q := Check{Name: "qemu", Hard: hard}
	path, err := in.LookPath(in.QEMUBin)
	if err != nil {
		q.Status = bad
		q.Detail = fmt.Sprintf("%s not found on PATH%s", in.QEMUBin, why)
		q.Fix = pkgFix
		return []Check{q, checkQEMUImg(in, hard)}
	}
	out, err := run(ctx, in, path, "--version")
	if err != nil {
		q.Status = bad
		q.Detail = fmt.Sprintf("%s --version failed: %v: %s", path, err, firstLine(out))
		q.Fix = "apt-get install --reinstall qemu-system-x86"
		return []Check{q, checkQEMUImg(in, hard)}
	}
	version := parseVersion(out)
	if version == "" {
		version = "(unknown version: " + firstLine(out) + ")"
	}
	q.Status = StatusOK
	q.Detail = fmt.Sprintf("%s %s (%s)", filepath.Base(path), version, path)

	m := Check{Name: "qemu microvm", Hard: hard}
	out, err = run(ctx, in, path, "-M", "help")
	switch {
	case err != nil:
		m.Status = bad
		m.Detail = fmt.Sprintf("%s -M help failed: %v: %s", path, err, firstLine(out))
		m.Fix = "apt-get install --reinstall qemu-system-x86"
	case hasMachine(out, "microvm"):
		m.Status = StatusOK
		m.Detail = "supports -M microvm"
	default:
		m.Status = bad
		m.Detail = fmt.Sprintf("%s does not support -M microvm (QEMU 4.2 or newer built with microvm is needed)%s", path, why)
		m.Fix = pkgFix + " from Debian 11 or newer"
	}
	return []Check{q, m, checkQEMUImg(in, hard)}
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

func checkQEMUImg(in Inputs, hard bool) Check {
	c := Check{Name: "qemu-img", Hard: hard}
	path, err := in.LookPath("qemu-img")
	if err != nil {
		c.Status = missingStatus(hard)
		c.Detail = "qemu-img not found on PATH"
		c.Fix = "apt-get install qemu-utils"
		return c
	}
	c.Status = StatusOK
	c.Detail = path
	return c
}

func checkFirecracker(ctx context.Context, in Inputs, path string, lookErr error, forced bool) Check {
	c := Check{Name: "firecracker", Hard: forced}
	if lookErr != nil {
		if forced {
			c.Status = StatusFail
			c.Detail = in.FirecrackerBin + " not found on PATH, but the config sets vmm=firecracker"
			c.Fix = "install a firecracker release binary (https://github.com/firecracker-microvm/firecracker/releases; not packaged in Debian) on PATH"
			return c
		}
		c.Status = StatusInfo
		c.Detail = "not installed; the QEMU backend is used"
		return c
	}
	out, err := run(ctx, in, path, "--version")
	if err != nil {
		c.Status = missingStatus(forced)
		c.Detail = fmt.Sprintf("%s --version failed: %v: %s", path, err, firstLine(out))
		c.Fix = "reinstall the firecracker release binary for this architecture"
		return c
	}
	v := parseVersion(out)
	ok, msg := firecracker.CheckVersion(strings.TrimPrefix(v, "v"))
	c.Detail = fmt.Sprintf("%s (%s)", msg, path)
	if !ok {
		c.Status = StatusWarn
		c.Fix = "install a supported Firecracker release (docs/firecracker.md)"
		return c
	}
	c.Status = StatusOK
	return c
}

// checkFirecrackerHost reports how Firecracker root disks would be made on
// this host, and, with the jailer, whether its chroot base shares a
// filesystem with the state directory (jails hard-link kernels and disks).
func checkFirecrackerHost(in Inputs) []Check {
	dir := nearestExisting(in.StateDir)
	out := []Check{{Name: "fc root disk", Status: StatusInfo,
		Detail: "Firecracker root disks: " + firecracker.ProbeRootDiskMethod(dir)}}
	if _, err := in.LookPath(in.JailerBin); err != nil {
		out = append(out, Check{Name: "jailer", Status: StatusInfo, Detail: "jailer not installed; Firecracker VMs run without it"})
		return out
	}
	base := in.JailerChrootBase
	if base == "" {
		base = firecracker.DefaultChrootBase
	}
	same, err := firecracker.SameFilesystem(nearestExisting(base), dir)
	switch {
	case err != nil:
		out = append(out, Check{Name: "jailer", Status: StatusWarn, Detail: err.Error(), Fix: "create " + base + " on the filesystem of " + in.StateDir})
	case !same:
		out = append(out, Check{Name: "jailer", Status: StatusWarn,
			Detail: fmt.Sprintf("chroot base %s is not on the filesystem of %s, so kernels and disks cannot be hard-linked into jails", base, in.StateDir),
			Fix:    "set jailer_chroot_base to a directory on the same filesystem as state_dir"})
	default:
		out = append(out, Check{Name: "jailer", Status: StatusOK, Detail: fmt.Sprintf("chroot base %s shares a filesystem with %s", base, in.StateDir)})
	}
	return out
}

// tool is a program banger runs, and the Debian package that provides it.
type tool struct {
	name, pkg, purpose string
	hard               bool
}

var tools = []tool{
	{"debootstrap", hosttools.Package("debootstrap"), "builds the default Debian guest image", true},
	{"mkfs.ext4", hosttools.Package("mkfs.ext4"), "formats guest disk images", true},
	{"debugfs", hosttools.Package("debugfs"), "writes files into guest images without mounting them", true},
	{"ssh", hosttools.Package("ssh"), "connects to guests", true},
	{"ip", hosttools.Package("ip"), "manages tap devices and the bridge", true},
	{"nft", hosttools.Package("nft"), "only needed for --nat", false},
}

func checkTool(in Inputs, t tool) Check {
	c := Check{Name: t.name, Hard: t.hard}
	path, err := in.LookPath(t.name)
	if err != nil {
		c.Status = missingStatus(t.hard)
		c.Detail = fmt.Sprintf("not found on PATH (%s)", t.purpose)
		c.Fix = "apt-get install " + t.pkg
		return c
	}
	c.Status = StatusOK
	c.Detail = path
	return c
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func checkTun(in Inputs) Check {
	c := Check{Name: "tun", Hard: true}
	dev := filepath.Join(in.DevRoot, "net", "tun")
	if exists(dev) {
		c.Status = StatusOK
		c.Detail = dev + " present"
		return c
	}
	c.Status = StatusFail
	if exists(filepath.Join(in.SysRoot, "class", "misc", "tun")) || exists(filepath.Join(in.SysRoot, "module", "tun")) {
		c.Detail = "the tun driver is loaded but " + dev + " is missing"
		c.Fix = "mkdir -p /dev/net && mknod /dev/net/tun c 10 200 && chmod 0666 /dev/net/tun; in a container, pass --device /dev/net/tun"
		return c
	}
	c.Detail = dev + " is missing and the tun module is not loaded"
	c.Fix = "modprobe tun (the module ships with the kernel: apt-get install linux-image-amd64); in a container, pass --device /dev/net/tun"
	return c
}

func checkBridge(ctx context.Context, in Inputs) Check {
	c := Check{Name: "bridge"}
	if in.BridgeName != "" {
		iface := filepath.Join(in.SysRoot, "class", "net", in.BridgeName)
		if exists(iface) && !exists(filepath.Join(iface, "bridge")) {
			c.Status = StatusFail
			c.Hard = true
			c.Detail = fmt.Sprintf("interface %s exists and is not a bridge", in.BridgeName)
			c.Fix = fmt.Sprintf("set bridge_name to another name in the banger config, or remove the interface: ip link delete %s", in.BridgeName)
			return c
		}
	}
	var note string
	if in.BridgeName != "" {
		if exists(filepath.Join(in.SysRoot, "class", "net", in.BridgeName, "bridge")) {
			note = "; bridge " + in.BridgeName + " exists"
		} else {
			note = "; bangerd creates bridge " + in.BridgeName + " on start"
		}
	}
	if exists(filepath.Join(in.SysRoot, "module", "bridge")) || exists(filepath.Join(in.ProcRoot, "sys", "net", "bridge")) {
		c.Status = StatusOK
		c.Detail = "bridge module loaded" + note
		return c
	}
	c.Status = StatusWarn
	c.Fix = "modprobe bridge"
	if modinfo, err := in.LookPath("modinfo"); err == nil {
		if _, err := run(ctx, in, modinfo, "bridge"); err == nil {
			c.Detail = "bridge module not loaded yet; it is available and autoloads when the bridge is created" + note
			return c
		}
	}
	c.Detail = "bridge module not loaded and modinfo cannot find it; it may still autoload if built in" + note
	c.Fix = "modprobe bridge; if the module is missing, install the distribution kernel: apt-get install linux-image-amd64"
	return c
}

func checkVsock(in Inputs) Check {
	c := Check{Name: "vsock"}
	dev := filepath.Join(in.DevRoot, "vhost-vsock")
	switch {
	case exists(dev):
		c.Status = StatusOK
		c.Detail = dev + " present"
	case exists(filepath.Join(in.SysRoot, "module", "vhost_vsock")):
		c.Status = StatusWarn
		c.Detail = "vhost_vsock is loaded but " + dev + " is missing (not used yet; planned for the guest agent)"
		c.Fix = "in a container, pass --device /dev/vhost-vsock"
	default:
		c.Status = StatusInfo
		c.Detail = "vhost_vsock not loaded (not used yet; planned for the guest agent: modprobe vhost_vsock)"
	}
	return c
}

// nearestExisting returns path or its closest ancestor that exists.
func nearestExisting(path string) string {
	p := filepath.Clean(path)
	for {
		if exists(p) {
			return p
		}
		parent := filepath.Dir(p)
		if parent == p {
			return p
		}
		p = parent
	}
}

func checkDisk(in Inputs) Check {
	c := Check{Name: "disk", Hard: true}
	if in.StateDir == "" {
		c.Status = StatusWarn
		c.Hard = false
		c.Detail = "no state directory configured; free space not checked"
		c.Fix = "set state_dir in the banger config"
		return c
	}
	dir := nearestExisting(in.StateDir)
	free, err := in.Statfs(dir)
	if err != nil {
		c.Status = StatusWarn
		c.Hard = false
		c.Detail = fmt.Sprintf("cannot read free space of %s: %v", dir, err)
		c.Fix = "check that " + dir + " is on a mounted file system"
		return c
	}
	c.Detail = fmt.Sprintf("%.1f GiB free on the file system holding %s", float64(free)/float64(gib), dir)
	fix := fmt.Sprintf("free space on the file system holding %s, or set state_dir in the banger config to a larger file system", dir)
	switch {
	case free < DiskFailBytes:
		c.Status = StatusFail
		c.Detail += fmt.Sprintf(" (below the %d GiB minimum)", DiskFailBytes/gib)
		c.Fix = fix
	case free < DiskWarnBytes:
		c.Status = StatusWarn
		c.Detail += fmt.Sprintf(" (below the recommended %d GiB)", DiskWarnBytes/gib)
		c.Fix = fix
	default:
		c.Status = StatusOK
	}
	return c
}

// checkDir checks a directory bangerd owns: it must be a directory that is
// not world-writable, or not exist yet under a writable parent.
func checkDir(in Inputs, name, key, path string) Check {
	c := Check{Name: name, Hard: true, Status: StatusFail}
	if path == "" {
		c.Detail = "not configured"
		c.Fix = "set " + key + " in the banger config"
		return c
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		parent := nearestExisting(path)
		pfi, perr := os.Stat(parent)
		switch {
		case perr != nil:
			c.Detail = fmt.Sprintf("%s does not exist and %s cannot be read: %v", path, parent, perr)
			c.Fix = "set " + key + " in the banger config to a path on a local file system"
		case !pfi.IsDir():
			c.Detail = fmt.Sprintf("%s cannot be created: %s is not a directory", path, parent)
			c.Fix = fmt.Sprintf("move %s away, or set %s in the banger config to another path", parent, key)
		case !in.Writable(parent):
			c.Detail = fmt.Sprintf("%s does not exist and %s is not writable", path, parent)
			c.Fix = fmt.Sprintf("as root: mkdir -p -m 0755 %s", path)
		default:
			c.Status = StatusOK
			c.Detail = fmt.Sprintf("%s does not exist yet; bangerd creates it (%s is writable)", path, parent)
		}
	case err != nil:
		c.Detail = fmt.Sprintf("cannot stat %s: %v", path, err)
		c.Fix = "check the permissions of " + path + " and its parents"
	case !fi.IsDir():
		c.Detail = path + " exists and is not a directory"
		c.Fix = fmt.Sprintf("move %s away, or set %s in the banger config to another path", path, key)
	case fi.Mode().Perm()&0o002 != 0:
		c.Detail = fmt.Sprintf("%s is world-writable (mode %04o); other users could tamper with VM state", path, fi.Mode().Perm())
		c.Fix = "chmod o-w " + path
	case !in.Writable(path):
		c.Detail = path + " is not writable"
		c.Fix = fmt.Sprintf("make %s writable by root (is the file system read-only?)", path)
	default:
		c.Status = StatusOK
		c.Detail = fmt.Sprintf("%s (mode %04o)", path, fi.Mode().Perm())
	}
	return c
}
