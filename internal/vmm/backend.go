package vmm

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"

	"banger/internal/hosttools"
)

// Backend describes one VMM backend to a Registry: its name, the config
// keys it owns, when "auto" picks it, the host tools it runs, its doctor
// checks and how to build it. Each backend package returns its own (e.g.
// qemu.Backend()); the optional capabilities of the VMM it builds are the
// interfaces below VMM (RootDisker, KernelAdapter, TapOwner, AgentDialer,
// Preflighter, ToolRequirer).
type Backend struct {
	// Name is the value of the config's vmm key that selects the backend.
	Name string
	// Rank orders backends for vmm = "auto": the available backend with
	// the highest rank runs new VMs.
	Rank int
	// Settings are the config keys the backend owns, with their defaults.
	Settings []Setting
	// Tools are the host programs the backend runs, with their packages.
	Tools func(s Settings) []hosttools.Tool
	// Validate checks the backend's settings (defaults applied) and returns
	// one error per problem, each saying what to write instead. Optional.
	Validate func(s Settings) []error
	// Available says why the backend cannot run VMs on this host now (nil
	// when it can). "auto" skips unavailable backends. Optional: nil means
	// always available.
	Available func(ctx context.Context, env Env) error
	// New builds the backend. An error means it cannot run VMs here; the
	// daemon then offers a backend whose every operation reports it.
	New func(env Env) (VMM, error)
	// Doctor returns the backend's lines of the doctor report. Optional.
	Doctor func(ctx context.Context, env Env, role Role) []Check
	// Defaults says what the backend asks of the defaults of new VMs on
	// this host (see Hints). Optional.
	Defaults func(ctx context.Context, env Env) Hints
}

// Role tells a backend's doctor checks how much they matter.
type Role struct {
	Chosen bool // new VMs run on this backend: its requirements are hard
	Forced bool // the config names this backend (vmm = "<name>")
}

// Setting is one key of the config file that a backend owns. Keys are
// top-level in config.toml (e.g. qemu_bin), as they always were.
type Setting struct {
	Key string
	// Default is the value when the file leaves the key out: a string, or
	// for a Bool key a bool or nil (unset).
	Default any
	// Bool marks a true/false key; other keys are strings.
	Bool bool
}

// Settings are the values of the backends' keys, by key, with defaults
// applied. Backends read their own keys; a key no backend declares is
// absent.
type Settings map[string]any

// String returns a string key's value ("" when absent).
func (s Settings) String(key string) string {
	v, _ := s[key].(string)
	return v
}

// Bool returns a bool key's value and whether it is set.
func (s Settings) Bool(key string) (v, set bool) {
	v, set = s[key].(bool)
	return v, set
}

// Env is what backends are built, checked and chosen with.
type Env struct {
	Settings Settings
	Log      *slog.Logger
	StateDir string // durable state (images, kernels, VMs)
	CacheDir string // caches a backend may keep (e.g. a probe's result)
	// ProbeKernel and ProbeInitrd are a guest kernel (and optional initrd)
	// for host probes such as the KVM test boot; "" while none is built.
	ProbeKernel, ProbeInitrd string
	Host                     Host
}

// Logger returns Log, or a logger that discards.
func (e Env) Logger() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

// Host is how backends look at the host; tests replace the hooks. Nil
// hooks and empty roots mean the real host.
type Host struct {
	LookPath func(string) (string, error)
	// Run runs a command (argv, no shell) and returns its combined output.
	Run                        func(ctx context.Context, name string, args ...string) (string, error)
	DevRoot, ProcRoot, SysRoot string // "/dev", "/proc", "/sys" by default
	// KVMProbe replaces the KVM test boot (see package vmm/kvm).
	KVMProbe func(ctx context.Context) (ok bool, detail string, err error)
}

// WithDefaults fills in the real host for nil hooks and empty roots.
func (h Host) WithDefaults() Host {
	if h.LookPath == nil {
		h.LookPath = exec.LookPath
	}
	if h.Run == nil {
		h.Run = runCommand
	}
	if h.DevRoot == "" {
		h.DevRoot = "/dev"
	}
	if h.ProcRoot == "" {
		h.ProcRoot = "/proc"
	}
	if h.SysRoot == "" {
		h.SysRoot = "/sys"
	}
	return h
}

func runCommand(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("run %s: %w", name, err)
	}
	return string(out), nil
}

// CheckStatus is the outcome of one doctor check.
type CheckStatus string

// Check outcomes. Only a Hard check with CheckFail makes doctor fail.
const (
	CheckOK   CheckStatus = "ok"
	CheckWarn CheckStatus = "warn"
	CheckFail CheckStatus = "fail"
	CheckInfo CheckStatus = "info"
)

// Check is one line of the doctor report.
type Check struct {
	Name   string
	Status CheckStatus
	Detail string
	Fix    string // what to do about a fail or warn; empty otherwise
	Hard   bool   // a failure means banger cannot work on this host
}

// CheckProgram checks a key naming a program: it must not be empty.
func CheckProgram(key, v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("%s is empty: give a program name on $PATH or an absolute path", key)
	}
	return nil
}
