package kvm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/atomicfile"
	"banger/internal/poll"
	"banger/internal/vmm"
)

// kvmGetAPIVersion is _IO(KVMIO, 0x00); every KVM since Linux 2.6.22 says 12.
const (
	kvmGetAPIVersion = 0xAE00
	kvmAPIVersion    = 12
)

// checkKVMDevice opens /dev/kvm and asks for its API version.
func checkKVMDevice(path string) error {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	defer unix.Close(fd)
	v, err := unix.IoctlRetInt(fd, kvmGetAPIVersion)
	if err != nil {
		return fmt.Errorf("KVM_GET_API_VERSION on %s: %w", path, err)
	}
	if v != kvmAPIVersion {
		return fmt.Errorf("%s reports KVM API version %d, want %d", path, v, kvmAPIVersion)
	}
	return nil
}

// probeArgs is the argv (without binary) of the KVM probe guest: no disks,
// no NIC, a kernel that panics as soon as it looks for init and a QEMU that
// exits on the panic's reboot.
func probeArgs(kernel, initrd, serial string) []string {
	a := []string{
		"-M", "microvm,acpi=on", "-accel", "kvm", "-cpu", "host",
		"-m", "256", "-smp", "1",
		"-nodefaults", "-no-user-config", "-display", "none",
		"-serial", "file:" + serial,
		"-kernel", kernel,
	}
	if initrd != "" {
		a = append(a, "-initrd", initrd)
	}
	return append(a,
		"-append", "console=ttyS0 panic=-1 rdinit=/bin/false init=/bin/false",
		"-no-reboot",
	)
}

// progressMarkers are console lines a kernel prints only after it has been
// running in long mode for a while.
var progressMarkers = []string{
	"Calibrating delay",
	"smpboot",
	"Freeing unused kernel",
	"Kernel panic",
	"Run /",
}

// bootProgressed reports whether console output shows a kernel that really
// runs, not just one that entered its decompressor.
func bootProgressed(console string) bool {
	if !strings.Contains(console, "Linux version") {
		return false
	}
	for _, m := range progressMarkers {
		if strings.Contains(console, m) {
			return true
		}
	}
	return false
}

// ProbeKVM checks that KVM can really run a guest: /dev/kvm must answer, and
// a kernel booted under -accel kvm must make progress within timeout. ok is
// false, with the reason in detail, when KVM is unusable; err is for failures
// that say nothing about KVM (missing kernel, no temp dir, no QEMU binary).
func ProbeKVM(ctx context.Context, binary, kernel, initrd string, timeout time.Duration) (ok bool, detail string, err error) {
	return probeKVM(ctx, "/dev/kvm", binary, kernel, initrd, timeout)
}

func probeKVM(ctx context.Context, kvmDev, binary, kernel, initrd string, timeout time.Duration) (bool, string, error) {
	if err := checkKVMDevice(kvmDev); err != nil {
		return false, fmt.Sprintf("KVM is not available (%v); using TCG software emulation", err), nil
	}
	if binary == "" {
		binary = "qemu-system-x86_64"
	}
	for _, f := range []string{kernel, initrd} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err != nil {
			return false, "", fmt.Errorf("probe kvm: %w", err)
		}
	}
	if kernel == "" {
		return false, "", errors.New("probe kvm: no kernel")
	}
	dir, err := os.MkdirTemp("", "banger-kvm-probe-")
	if err != nil {
		return false, "", fmt.Errorf("probe kvm: %w", err)
	}
	defer os.RemoveAll(dir)
	serial := filepath.Join(dir, "serial.log")
	logPath := filepath.Join(dir, "qemu.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return false, "", fmt.Errorf("probe kvm: %w", err)
	}
	defer logFile.Close()

	cmd := exec.Command(binary, probeArgs(kernel, initrd, serial)...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Die with us if we are killed mid-probe.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return false, "", fmt.Errorf("probe kvm: start %s: %w", binary, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()

	started := time.Now()
	progressed := func() bool {
		b, _ := os.ReadFile(serial)
		return bootProgressed(string(b))
	}
	booted := func() string {
		return fmt.Sprintf("a guest kernel booted under KVM in %s", time.Since(started).Round(10*time.Millisecond))
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = poll.Until(pctx, 100*time.Millisecond, exited, func(context.Context) (bool, error) { return progressed(), nil })
	switch {
	case err == nil || progressed():
		return true, booted(), nil
	case ctx.Err() != nil:
		return false, "", fmt.Errorf("probe kvm: %w", ctx.Err())
	case errors.Is(err, poll.ErrExited):
		msg := vmm.Tail(logPath, 512)
		if msg == "" {
			msg = "no output"
		}
		return false, fmt.Sprintf("qemu could not run a guest under KVM (%s); using TCG software emulation", oneLine(msg)), nil
	}
	return false, fmt.Sprintf("KVM is present but a guest kernel made no progress in %s under KVM (nested virtualization without working long-mode support?); using TCG software emulation", timeout), nil
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// ProbeResult is a cached KVM probe outcome.
type ProbeResult struct {
	OK        bool      `json:"ok"`
	Detail    string    `json:"detail"`
	Key       string    `json:"key"`
	CheckedAt time.Time `json:"checked_at"`
}

// Accel is the accelerator the result calls for: "kvm" or "tcg".
func (r ProbeResult) Accel() string {
	if r.OK {
		return "kvm"
	}
	return "tcg"
}

// ProbeCache runs ProbeKVM at most once per QEMU version and kernel, keeping
// the result in a JSON file.
type ProbeCache struct {
	Path    string // cache file, written atomically
	Binary  string // default qemu-system-x86_64
	Kernel  string
	Initrd  string
	Timeout time.Duration // default 8s

	// Version and Probe replace the real QEMU version query and probe in
	// tests; nil means the real ones.
	Version func(ctx context.Context, binary string) (string, error)
	Probe   func(ctx context.Context, binary, kernel, initrd string, timeout time.Duration) (bool, string, error)
}

// Result returns the cached result if its key still matches, otherwise
// probes and stores the new result.
func (c ProbeCache) Result(ctx context.Context) (ProbeResult, error) {
	binary := c.Binary
	if binary == "" {
		binary = "qemu-system-x86_64"
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 8 * time.Second
	}
	version, probe := c.Version, c.Probe
	if version == nil {
		version = qemuVersion
	}
	if probe == nil {
		probe = ProbeKVM
	}
	key, err := c.key(ctx, binary, version)
	if err != nil {
		return ProbeResult{}, fmt.Errorf("kvm probe cache: %w", err)
	}
	if b, err := os.ReadFile(c.Path); err == nil {
		var r ProbeResult
		if json.Unmarshal(b, &r) == nil && r.Key == key {
			return r, nil
		}
	}
	ok, detail, err := probe(ctx, binary, c.Kernel, c.Initrd, timeout)
	if err != nil {
		return ProbeResult{}, err
	}
	r := ProbeResult{OK: ok, Detail: detail, Key: key, CheckedAt: time.Now().UTC()}
	if err := writeProbe(c.Path, r); err != nil {
		return r, fmt.Errorf("kvm probe cache: %w", err)
	}
	return r, nil
}

// key identifies what the probe result depends on: the QEMU version, the
// kernel and initrd files, and whether /dev/kvm exists.
func (c ProbeCache) key(ctx context.Context, binary string, version func(context.Context, string) (string, error)) (string, error) {
	v, err := version(ctx, binary)
	if err != nil {
		return "", err
	}
	parts := []string{"qemu=" + v}
	for _, f := range []string{c.Kernel, c.Initrd} {
		if f == "" {
			continue
		}
		st, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		parts = append(parts, fmt.Sprintf("%s:%d:%d", f, st.Size(), st.ModTime().UnixNano()))
	}
	_, err = os.Stat("/dev/kvm")
	parts = append(parts, fmt.Sprintf("kvmdev=%t", err == nil))
	return strings.Join(parts, "|"), nil
}

// qemuVersion returns the first line of `binary --version`.
func qemuVersion(ctx context.Context, binary string) (string, error) {
	out, err := exec.CommandContext(ctx, binary, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("query %s version: %w", binary, err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line), nil
}

func writeProbe(path string, r ProbeResult) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create dir for %s: %w", path, err)
	}
	return atomicfile.WriteJSON(path, r, 0o644)
}
