package qemu

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/vmm"
	"banger/internal/vmm/kvm"
)

func TestHintsAskTwoVCPUsUnderTCG(t *testing.T) {
	withKVM := t.TempDir()
	if err := os.WriteFile(filepath.Join(withKVM, "kvm"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	probe := func(ok bool) func(context.Context) (bool, string, error) {
		return func(context.Context) (bool, string, error) { return ok, "", nil }
	}
	for _, c := range []struct {
		name, accel, dev string
		probe            func(context.Context) (bool, string, error)
		want             int
		why              string
	}{
		{"config tcg", "tcg", withKVM, probe(true), 2, "accel = \"tcg\""},
		{"config kvm", "kvm", t.TempDir(), nil, 0, ""},
		{"no /dev/kvm", "auto", t.TempDir(), nil, 2, "/dev/kvm is missing"},
		{"kvm runs no guest", "auto", withKVM, probe(false), 2, "cannot run a guest"},
		{"kvm works", "auto", withKVM, probe(true), 0, ""},
		{"kvm not verified", "auto", withKVM, nil, 0, ""},
	} {
		env := vmm.Env{Settings: settings(c.accel), Host: vmm.Host{DevRoot: c.dev, KVMProbe: c.probe}}
		h := Backend().Defaults(context.Background(), env)
		if h.MinVCPUs != c.want || !strings.Contains(h.Why, c.why) {
			t.Errorf("%s: hints = %+v, want %d vCPUs and a reason with %q", c.name, h, c.want, c.why)
		}
	}
}

func TestAcceleratedHintsFollowTheKernelsAccelerator(t *testing.T) {
	kernel := filepath.Join(t.TempDir(), "vmlinuz")
	if err := os.WriteFile(kernel, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		accel string
		kvmOK bool
		want  int
	}{
		{"auto", false, 2},
		{"auto", true, 0},
		{"tcg", true, 2},
		{"kvm", false, 0},
	} {
		a := NewAccelerated(vmm.Env{Settings: settings(c.accel)})
		a.probe = func(context.Context, string, string) (kvm.ProbeResult, error) {
			return kvm.ProbeResult{OK: c.kvmOK}, nil
		}
		if h := a.Hints(context.Background(), kernel, ""); h.MinVCPUs != c.want || (c.want > 0) != strings.Contains(h.Why, "TCG") {
			t.Errorf("accel %s, kvm works %v: hints %+v, want %d vCPUs", c.accel, c.kvmOK, h, c.want)
		}
	}
}
