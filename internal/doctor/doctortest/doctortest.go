// Package doctortest lays out a fake host for doctor's tests and for the
// backends' doctor checks: a healthy host under a temporary directory, with
// fake programs and commands; tests break one thing at a time.
package doctortest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/doctor"
	"banger/internal/vmm"
)

// GiB is a gibibyte.
const GiB = uint64(1) << 30

// Result is the outcome of a fake command.
type Result struct {
	Out string
	Err error
}

// Host is a fake host.
type Host struct {
	Root  string
	Bins  map[string]string // program name -> path LookPath returns
	Cmds  map[string]Result // "argv joined by spaces" -> result
	Ran   []string
	Free  uint64
	UID   int
	Probe func(ctx context.Context) (bool, string, error)
}

// New returns a healthy host: banger's own tools installed, /dev/kvm,
// /dev/net/tun and /dev/vhost-vsock present, the bridge and tun modules
// loaded, 100 GiB free, running as root, and a KVM probe that boots.
func New(t testing.TB) *Host {
	t.Helper()
	h := &Host{
		Root: t.TempDir(),
		Bins: map[string]string{},
		Cmds: map[string]Result{},
		Free: 100 * GiB,
		Probe: func(context.Context) (bool, string, error) {
			return true, "guest reached userspace in 0.4s", nil
		},
	}
	for _, b := range []string{"debootstrap", "ssh", "ip", "nft", "modinfo"} {
		h.Bins[b] = "/usr/bin/" + b
	}
	for _, b := range []string{"mkfs.ext4", "debugfs"} {
		h.Bins[b] = "/usr/sbin/" + b
	}
	h.File(t, "dev/kvm")
	h.File(t, "dev/net/tun")
	h.File(t, "dev/vhost-vsock")
	h.Mkdir(t, "sys/module/bridge")
	h.Mkdir(t, "sys/module/tun")
	h.Write(t, "proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu vme de pse vmx ssse3\n")
	h.Mkdir(t, "var/lib/banger")
	h.Mkdir(t, "run")
	return h
}

// Path is rel under the host's root.
func (h *Host) Path(rel string) string { return filepath.Join(h.Root, rel) }

// Mkdir creates a directory with mode 0755.
func (h *Host) Mkdir(t testing.TB, rel string) {
	t.Helper()
	if err := os.MkdirAll(h.Path(rel), 0o755); err != nil {
		t.Fatal(err)
	}
	// MkdirAll honours the umask; make the mode exact.
	if err := os.Chmod(h.Path(rel), 0o755); err != nil {
		t.Fatal(err)
	}
}

// Write creates a file with content.
func (h *Host) Write(t testing.TB, rel, content string) {
	t.Helper()
	h.Mkdir(t, filepath.Dir(rel))
	if err := os.WriteFile(h.Path(rel), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// File creates an empty file.
func (h *Host) File(t testing.TB, rel string) { h.Write(t, rel, "") }

// Remove removes a file or tree.
func (h *Host) Remove(t testing.TB, rel string) {
	t.Helper()
	if err := os.RemoveAll(h.Path(rel)); err != nil {
		t.Fatal(err)
	}
}

// Inputs are doctor's inputs on this host, checking the backends of reg
// with their default settings and vmm = "auto".
func (h *Host) Inputs(reg *vmm.Registry) doctor.Inputs {
	return doctor.Inputs{
		StateDir:   h.Path("var/lib/banger"),
		RuntimeDir: h.Path("run/banger"),
		VMM:        vmm.Auto,
		Backends:   reg,
		Env:        vmm.Env{Settings: reg.Defaults(), CacheDir: h.Path("cache")},
		BridgeName: "banger0",
		KVMProbe:   h.Probe, // nil: no kernel to probe with yet
		LookPath: func(name string) (string, error) {
			if p, ok := h.Bins[name]; ok {
				return p, nil
			}
			return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
		},
		Run: func(_ context.Context, name string, args ...string) (string, error) {
			key := strings.Join(append([]string{name}, args...), " ")
			h.Ran = append(h.Ran, key)
			r, ok := h.Cmds[key]
			if !ok {
				return "", fmt.Errorf("unexpected command %q", key)
			}
			return r.Out, r.Err
		},
		ProcRoot: h.Path("proc"),
		SysRoot:  h.Path("sys"),
		DevRoot:  h.Path("dev"),
		Statfs:   func(string) (uint64, error) { return h.Free, nil },
		Geteuid:  func() int { return h.UID },
	}
}

// Dump is the report as doctor prints it.
func Dump(r doctor.Report) string {
	var b bytes.Buffer
	r.Write(&b)
	return b.String()
}

// MustFind returns the check called name or fails the test.
func MustFind(t testing.TB, r doctor.Report, name string) doctor.Check {
	t.Helper()
	c, ok := r.Find(name)
	if !ok {
		t.Fatalf("no %q check in report:\n%s", name, Dump(r))
	}
	return c
}
