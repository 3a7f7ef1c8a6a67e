// Package doctor checks that a host can run banger and says how to fix
// whatever is missing. It only inspects the host: it never creates
// directories, loads modules or installs packages.
package doctor

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"banger/internal/vmm"
)

// Status is the outcome of one check.
type Status = vmm.CheckStatus

// Check outcomes. Only a Hard check with StatusFail makes a Report fail.
const (
	StatusOK   = vmm.CheckOK
	StatusWarn = vmm.CheckWarn
	StatusFail = vmm.CheckFail
	StatusInfo = vmm.CheckInfo
)

// Check is one line of the doctor report.
type Check = vmm.Check

// Report is the result of Run, in the order the checks were made.
type Report struct {
	Checks []Check
	// VMM is the backend banger would use on this host with this config;
	// "" when the config leaves no usable choice.
	VMM string
}

// Failed reports whether any hard requirement failed.
func (r Report) Failed() bool {
	for _, c := range r.Checks {
		if c.Hard && c.Status == StatusFail {
			return true
		}
	}
	return false
}

// Find returns the first check with the given name.
func (r Report) Find(name string) (Check, bool) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c, true
		}
	}
	return Check{}, false
}

// Write prints the report as aligned lines, with a "fix:" line under every
// failure and warning, followed by a one-line summary.
func (r Report) Write(w io.Writer) {
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	indent := strings.Repeat(" ", len("[warn] "))
	var fails, hardFails, warns int
	for _, c := range r.Checks {
		fmt.Fprintf(w, "[%-4s] %-*s  %s\n", statusLabel(c.Status), width, c.Name, c.Detail)
		if c.Fix != "" && (c.Status == StatusFail || c.Status == StatusWarn) {
			fmt.Fprintf(w, "%s%*s  fix: %s\n", indent, width, "", c.Fix)
		}
		switch c.Status {
		case StatusFail:
			fails++
			if c.Hard {
				hardFails++
			}
		case StatusWarn:
			warns++
		}
	}
	switch {
	case hardFails > 0:
		fmt.Fprintf(w, "\n%d hard requirement(s) missing, %d other failure(s), %d warning(s): banger cannot run on this host until the hard failures are fixed.\n", hardFails, fails-hardFails, warns)
	case fails > 0 || warns > 0:
		fmt.Fprintf(w, "\nbanger can run on this host; %d failure(s) and %d warning(s) of optional features.\n", fails, warns)
	default:
		fmt.Fprintln(w, "\nall checks passed.")
	}
}

func statusLabel(s Status) string {
	if s == StatusOK {
		return " ok "
	}
	return string(s)
}

// Inputs is everything Run reads from the configuration and the host.
// Zero-valued host hooks are replaced by the real host (see Run).
type Inputs struct {
	StateDir, RuntimeDir string
	BridgeName           string
	VMM                  string // the config's vmm: auto or a backend name ("" means auto)
	// Backends are the VMM backends to check and choose from.
	Backends *vmm.Registry
	// Env is what the backends are checked with (their settings, the
	// probe kernel); its Host is filled in from the hooks below.
	Env vmm.Env

	// KVMProbe replaces the KVM test boot; nil means the real one, with
	// Env's probe kernel (none: not probed).
	KVMProbe func(ctx context.Context) (ok bool, detail string, err error)
	LookPath func(string) (string, error)
	// Run runs a command (argv, no shell) and returns its combined output.
	Run func(ctx context.Context, name string, args ...string) (string, error)

	ProcRoot, SysRoot, DevRoot string // "/proc", "/sys", "/dev" by default
	// Statfs returns the bytes available to unprivileged users on the
	// file system holding path.
	Statfs func(path string) (freeBytes uint64, err error)
	// Geteuid returns the effective user id; os.Geteuid by default.
	Geteuid func() int
	// Writable reports whether the existing directory path is writable by
	// this process; access(2) with W_OK by default.
	Writable func(path string) bool
}

func (in Inputs) withDefaults() Inputs {
	if in.VMM == "" {
		in.VMM = vmm.Auto
	}
	h := vmm.Host{LookPath: in.LookPath, Run: in.Run, DevRoot: in.DevRoot, ProcRoot: in.ProcRoot, SysRoot: in.SysRoot}.WithDefaults()
	in.LookPath, in.Run, in.DevRoot, in.ProcRoot, in.SysRoot = h.LookPath, h.Run, h.DevRoot, h.ProcRoot, h.SysRoot
	if in.Statfs == nil {
		in.Statfs = statfs
	}
	if in.Geteuid == nil {
		in.Geteuid = os.Geteuid
	}
	if in.Writable == nil {
		in.Writable = func(path string) bool { return syscall.Access(path, 2 /* W_OK */) == nil }
	}
	return in
}

// env is what the backends' checks see: Env with the host hooks.
func (in Inputs) env() vmm.Env {
	e := in.Env
	if e.StateDir == "" {
		e.StateDir = in.StateDir
	}
	e.Host = vmm.Host{LookPath: in.LookPath, Run: in.Run, DevRoot: in.DevRoot, ProcRoot: in.ProcRoot, SysRoot: in.SysRoot, KVMProbe: in.KVMProbe}
	return e
}

func statfs(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}
