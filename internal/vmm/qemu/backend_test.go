package qemu

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/vmm"
	"banger/internal/vmm/kvm"
)

func settings(accel string) vmm.Settings {
	return vmm.Settings{AccelKey: accel, BinaryKey: DefaultBinary}
}

func TestValidateSettings(t *testing.T) {
	if errs := validateSettings(settings("auto")); len(errs) != 0 {
		t.Errorf("defaults rejected: %v", errs)
	}
	errs := validateSettings(vmm.Settings{AccelKey: "hvf", BinaryKey: " "})
	if len(errs) != 2 || errs[0].Error() != `accel "hvf" is not valid: use one of auto, kvm, tcg` || !strings.Contains(errs[1].Error(), "qemu_bin is empty") {
		t.Errorf("errors = %v", errs)
	}
}

func TestAccelDecision(t *testing.T) {
	kernel := filepath.Join(t.TempDir(), "vmlinuz")
	if err := os.WriteFile(kernel, []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, fixed := range []string{"kvm", "tcg"} {
		a := NewAccelerated(vmm.Env{Settings: settings(fixed)})
		a.probe = func(context.Context, string, string) (kvm.ProbeResult, error) {
			t.Fatal("probe ran although accel is fixed")
			return kvm.ProbeResult{}, nil
		}
		if got := a.resolve(context.Background(), kernel, ""); got != fixed {
			t.Errorf("accel %s resolved to %s", fixed, got)
		}
	}
	a := NewAccelerated(vmm.Env{Settings: settings("auto")})
	probes := 0
	a.probe = func(context.Context, string, string) (kvm.ProbeResult, error) {
		probes++
		return kvm.ProbeResult{OK: true}, nil
	}
	for range 2 {
		if got := a.resolve(context.Background(), kernel, ""); got != "kvm" {
			t.Errorf("auto with a working probe = %s", got)
		}
	}
	if probes != 1 {
		t.Errorf("probed %d times for one kernel, want once", probes)
	}
	a.probe = func(context.Context, string, string) (kvm.ProbeResult, error) {
		return kvm.ProbeResult{}, errors.New("no qemu")
	}
	if got := a.resolve(context.Background(), kernel+"-other", ""); got != "tcg" {
		t.Errorf("auto with a failing probe = %s, want tcg", got)
	}
}

func TestPreflightNamesThePackage(t *testing.T) {
	env := vmm.Env{Settings: settings("auto"), Host: vmm.Host{LookPath: func(name string) (string, error) {
		if name == imgTool {
			return "", errors.New("not found")
		}
		return "/usr/bin/" + name, nil
	}}}
	err := NewAccelerated(env).Preflight(context.Background())
	if err == nil || !strings.Contains(err.Error(), "apt-get install qemu-utils") {
		t.Fatalf("Preflight = %v, want the qemu-img package named", err)
	}
	if got := NewAccelerated(env).RequiredTools(); strings.Join(got, " ") != DefaultBinary+" "+imgTool {
		t.Errorf("RequiredTools = %v", got)
	}
}

func TestPrepareRootDiskIsAnOverlay(t *testing.T) {
	if _, err := exec.LookPath(imgTool); err != nil {
		t.Skip("qemu-img not installed")
	}
	dir := t.TempDir()
	image := filepath.Join(dir, "rootfs.ext4")
	if err := os.WriteFile(image, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := NewAccelerated(vmm.Env{Settings: settings("auto")}).PrepareRootDisk(context.Background(), image, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d != (vmm.Disk{Path: filepath.Join(dir, RootDiskName), Format: "qcow2"}) {
		t.Errorf("disk = %+v", d)
	}
	out, err := exec.Command(imgTool, "info", d.Path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "backing file: "+image) {
		t.Errorf("qemu-img info: %v\n%s", err, out)
	}
	if err := OverlaySized(context.Background(), "", "relative.raw", "raw", filepath.Join(dir, "x.qcow2"), 0); err == nil {
		t.Error("a relative backing file was accepted")
	}
}
