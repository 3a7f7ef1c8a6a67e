package kvm

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProbeKVMNoDevice(t *testing.T) {
	// A regular file is not a KVM device: the ioctl fails, ok=false, no error.
	fake := filepath.Join(t.TempDir(), "kvm")
	if err := os.WriteFile(fake, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dev string
	}{
		{"missing device", filepath.Join(t.TempDir(), "nokvm")},
		{"not a kvm device", fake},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, detail, err := probeKVM(context.Background(), tt.dev, "qemu-system-x86_64", "/nonexistent", "", time.Second)
			if err != nil || ok {
				t.Fatalf("probeKVM = %v, %q, %v; want false with a reason", ok, detail, err)
			}
			if !strings.Contains(detail, "KVM is not available") || !strings.Contains(detail, "TCG") {
				t.Fatalf("detail = %q", detail)
			}
		})
	}
}

// TestProbeKVMHost runs the real probe. It asserts only what holds on any
// host: a definite answer with a reason, within the timeout plus slack.
func TestProbeKVMHost(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real guest under KVM for up to 8s; skipped with -short")
	}
	kernel := testKernel(t)
	if _, err := os.Stat("/dev/kvm"); err != nil {
		t.Skipf("no /dev/kvm: %v", err)
	}
	const timeout = 8 * time.Second
	start := time.Now()
	ok, detail, err := ProbeKVM(context.Background(), "", kernel, "", timeout)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("ProbeKVM: %v", err)
	}
	t.Logf("ProbeKVM on this host: ok=%v in %s: %s", ok, took.Round(time.Millisecond), detail)
	if detail == "" {
		t.Fatal("empty detail")
	}
	if took > timeout+5*time.Second {
		t.Fatalf("probe took %s, timeout was %s", took, timeout)
	}
}

func TestProbeCache(t *testing.T) {
	dir := t.TempDir()
	kernel := filepath.Join(dir, "vmlinuz")
	if err := os.WriteFile(kernel, []byte("kernel v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	version := "QEMU emulator version 7.2.22"
	probes := 0
	c := ProbeCache{
		Path:   filepath.Join(dir, "state", "kvm-probe.json"),
		Kernel: kernel,
		Version: func(context.Context, string) (string, error) {
			return version, nil
		},
		Probe: func(_ context.Context, binary, k, initrd string, timeout time.Duration) (bool, string, error) {
			probes++
			if binary != "qemu-system-x86_64" || k != kernel || timeout != 8*time.Second {
				t.Errorf("probe called with %q %q %s", binary, k, timeout)
			}
			return false, "no progress", nil
		},
	}
	ctx := context.Background()
	steps := []struct {
		name       string
		change     func()
		wantProbes int
	}{
		{"first call probes", func() {}, 1},
		{"second call uses the cache", func() {}, 1},
		{"new qemu version probes again", func() { version = "QEMU emulator version 8.0.0" }, 2},
		{"changed kernel probes again", func() {
			if err := os.WriteFile(kernel, []byte("kernel v2, longer"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, 3},
		{"corrupt cache file probes again", func() {
			if err := os.WriteFile(c.Path, []byte("{"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, 4},
		{"and caches again", func() {}, 4},
	}
	for _, s := range steps {
		s.change()
		r, err := c.Result(ctx)
		if err != nil {
			t.Fatalf("%s: Result: %v", s.name, err)
		}
		if probes != s.wantProbes {
			t.Fatalf("%s: %d probes, want %d", s.name, probes, s.wantProbes)
		}
		if r.OK || r.Detail != "no progress" || r.Accel() != "tcg" {
			t.Fatalf("%s: result %+v", s.name, r)
		}
		var onDisk ProbeResult
		b, err := os.ReadFile(c.Path)
		if err != nil || json.Unmarshal(b, &onDisk) != nil || onDisk.Key != r.Key {
			t.Fatalf("%s: cache file %q (%v) does not hold key %q", s.name, b, err, r.Key)
		}
	}
	// No temp files left next to the cache.
	entries, _ := os.ReadDir(filepath.Dir(c.Path))
	if len(entries) != 1 {
		t.Fatalf("cache dir has %d entries, want 1", len(entries))
	}
}

func TestProbeKVMFakeQEMU(t *testing.T) {
	if err := checkKVMDevice("/dev/kvm"); err != nil {
		t.Skipf("needs a /dev/kvm that answers KVM_GET_API_VERSION: %v", err)
	}
	kernel := filepath.Join(t.TempDir(), "vmlinuz")
	if err := os.WriteFile(kernel, []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Each fake QEMU writes `console` to the -serial file, then does `then`.
	fake := func(console, then string) string {
		p := filepath.Join(t.TempDir(), "qemu")
		script := "#!/bin/sh\nfor a; do case $a in file:*) f=${a#file:};; esac; done\n" +
			"printf '" + console + "' > \"$f\"\n" + then + "\n"
		if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name       string
		binary     string
		wantOK     bool
		wantDetail string
		maxTime    time.Duration
	}{
		{"boots and keeps running", fake(`Linux version 6.1\\nRun /bin/false as init process\\n`, "exec sleep 30"), true, "booted under KVM", 3 * time.Second},
		{"boots, panics, exits", fake(`Linux version 6.1\\nKernel panic - not syncing\\n`, "exit 0"), true, "booted under KVM", 3 * time.Second},
		{"stuck after decompression", fake(`Linux version 6.1\\n`, "exec sleep 30"), false, "made no progress in 1s", 4 * time.Second},
		{"fails to start a guest", fake(``, "echo 'kvm: failed to set MSR' >&2; exit 1"), false, "failed to set MSR", 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			ok, detail, err := ProbeKVM(context.Background(), tt.binary, kernel, "", time.Second)
			if err != nil {
				t.Fatalf("ProbeKVM: %v", err)
			}
			if ok != tt.wantOK || !strings.Contains(detail, tt.wantDetail) {
				t.Fatalf("ProbeKVM = %v, %q; want %v with %q", ok, detail, tt.wantOK, tt.wantDetail)
			}
			if d := time.Since(start); d > tt.maxTime {
				t.Fatalf("ProbeKVM took %s (a still-running fake must be killed, not waited for)", d)
			}
		})
	}
}

// testKernel returns a bootable kernel for real-QEMU tests or skips.
func testKernel(t *testing.T) string {
	t.Helper()
	k := os.Getenv("BANGER_TEST_KERNEL")
	for _, c := range []string{"/var/cache/banger-e2e/state/kernels/debian-bookworm/vmlinuz", "/var/lib/banger/kernels/debian-bookworm/vmlinuz"} {
		if _, err := os.Stat(c); k == "" && err == nil {
			k = c
		}
	}
	if _, err := os.Stat(k); k == "" || err != nil {
		t.Skipf("no test kernel found (set BANGER_TEST_KERNEL): %q %v", k, err)
	}
	return k
}

func TestBootProgressed(t *testing.T) {
	tests := []struct {
		console string
		want    bool
	}{
		{"", false},
		{"Linux version 6.1.0\n", false},
		{"Linux version 6.1.0\n...\nCalibrating delay loop\n", true},
		{"Linux version 6.1.0\nKernel panic - not syncing\n", true},
		{"Kernel panic\n", false},
	}
	for _, tt := range tests {
		if got := bootProgressed(tt.console); got != tt.want {
			t.Errorf("bootProgressed(%q) = %v, want %v", tt.console, got, tt.want)
		}
	}
}
