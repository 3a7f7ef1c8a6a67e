package doctor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"banger/internal/hosttools"
	"banger/internal/vmm"
)

const (
	gib = uint64(1) << 30
	// DiskWarnBytes and DiskFailBytes are the free-space thresholds for the
	// file system holding the state directory.
	DiskWarnBytes = 10 * gib
	DiskFailBytes = 2 * gib

	// commandTimeout bounds every external command doctor runs.
	commandTimeout = 15 * time.Second
)

// Run checks the host against banger's requirements and those of the
// backends in in.Backends. It never changes the host. Nil hooks and empty
// roots in in are replaced by the real host.
func Run(ctx context.Context, in Inputs) Report {
	in = in.withDefaults()
	env := in.env()
	var r Report
	add := func(cs ...Check) { r.Checks = append(r.Checks, cs...) }

	add(checkRoot(in))
	vmmCheck, chosen := chooseVMM(ctx, in, env)
	r.VMM = chosen
	for _, b := range in.Backends.Backends() {
		add(backendChecks(ctx, in, env, b, vmm.Role{Chosen: b.Name == chosen, Forced: b.Name == in.VMM})...)
	}
	add(vmmCheck)
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

// chooseVMM reports the backend new VMs would run on: the one the config
// names, or the registry's "auto" choice and why.
func chooseVMM(ctx context.Context, in Inputs, env vmm.Env) (Check, string) {
	c := Check{Name: "vmm", Status: StatusInfo}
	choice, err := in.Backends.Choose(ctx, env, in.VMM)
	if err != nil {
		names := []string{`"` + vmm.Auto + `"`}
		for _, n := range in.Backends.Names() {
			names = append(names, `"`+n+`"`)
		}
		c.Status, c.Hard = StatusFail, true
		c.Detail = fmt.Sprintf("unknown vmm %q in the config", in.VMM)
		c.Fix = "set vmm to one of " + strings.Join(names, ", ") + " in the banger config"
		return c, ""
	}
	if in.VMM != vmm.Auto {
		c.Detail = fmt.Sprintf("%s (set by config vmm=%s)", choice.Name, in.VMM)
		return c, choice.Name
	}
	why := choice.Why
	if why == "" {
		why = "the highest-ranked backend, and available"
	}
	c.Detail = fmt.Sprintf("%s (vmm=auto: %s)", choice.Name, why)
	return c, choice.Name
}

// backendChecks are a backend's own doctor checks, or, for a backend that
// has none, a check of each host tool it declares.
func backendChecks(ctx context.Context, in Inputs, env vmm.Env, b vmm.Backend, role vmm.Role) []Check {
	if b.Doctor != nil {
		return b.Doctor(ctx, env, role)
	}
	if b.Tools == nil {
		return nil
	}
	var out []Check
	for _, t := range b.Tools(env.Settings) {
		out = append(out, checkTool(in, tool{t.Name, t.Package, "run by the " + b.Name + " backend", role.Chosen}))
	}
	return out
}

func run(ctx context.Context, in Inputs, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	return in.Run(ctx, name, args...)
}

func missingStatus(hard bool) Status {
	if hard {
		return StatusFail
	}
	return StatusWarn
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
		if t.pkg == "" {
			c.Fix = "install " + t.name + " on PATH"
		}
		return c
	}
	c.Status = StatusOK
	c.Detail = path
	return c
}
