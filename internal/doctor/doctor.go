// Package doctor checks that a host can run banger and says how to fix
// whatever is missing. It only inspects the host: it never creates
// directories, loads modules or installs packages.
package doctor

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// Status is the outcome of one check.
type Status string

// Check outcomes. Only a Hard check with StatusFail makes a Report fail.
const (
	StatusOK   Status = "ok"
	StatusWarn Status = "warn"
	StatusFail Status = "fail"
	StatusInfo Status = "info"
)

// Check is one line of the doctor report.
type Check struct {
	Name   string
	Status Status
	Detail string
	Fix    string // what to do about a fail or warn; empty otherwise
	Hard   bool   // a failure means banger cannot work on this host
}

// Report is the result of Run, in the order the checks were made.
type Report struct {
	Checks []Check
	// Accel ("kvm" or "tcg") and VMM ("qemu" or "firecracker") are what
	// banger would use on this host with this config; "" when the config
	// leaves no usable choice.
	Accel, VMM string
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
	VMM, Accel           string // vmm auto|qemu|firecracker, accel auto|kvm|tcg ("" means auto)
	QEMUBin              string // default "qemu-system-x86_64"
	FirecrackerBin       string // default "firecracker"
	JailerBin            string // default "jailer"
	JailerChrootBase     string // default /srv/jailer
	BridgeName           string

	// KVMProbe boots a guest kernel under KVM to find out whether KVM can
	// really run guests here. nil means no kernel is available yet to
	// probe with.
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
		in.VMM = "auto"
	}
	if in.Accel == "" {
		in.Accel = "auto"
	}
	if in.QEMUBin == "" {
		in.QEMUBin = "qemu-system-x86_64"
	}
	if in.JailerBin == "" {
		in.JailerBin = "jailer"
	}
	if in.FirecrackerBin == "" {
		in.FirecrackerBin = "firecracker"
	}
	if in.LookPath == nil {
		in.LookPath = exec.LookPath
	}
	if in.Run == nil {
		in.Run = runCommand
	}
	if in.ProcRoot == "" {
		in.ProcRoot = "/proc"
	}
	if in.SysRoot == "" {
		in.SysRoot = "/sys"
	}
	if in.DevRoot == "" {
		in.DevRoot = "/dev"
	}
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

func runCommand(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("run %s: %w", name, err)
	}
	return string(out), nil
}

func statfs(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}
