package builtin_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"banger/internal/doctor"
	"banger/internal/doctor/doctortest"
	"banger/internal/vmm/builtin"
)

func TestAllGoodHost(t *testing.T) {
	h := newHost(t)
	r := doctor.Run(context.Background(), h.Inputs(builtin.Registry()))
	if r.Failed() {
		t.Fatalf("healthy host failed:\n%s", doctortest.Dump(r))
	}
	for _, c := range r.Checks {
		if c.Status != doctor.StatusOK && c.Status != doctor.StatusInfo {
			t.Errorf("check %q = %s (%s), want ok or info", c.Name, c.Status, c.Detail)
		}
	}
	want := map[string]string{
		"qemu":         "qemu-system-x86_64 7.2.22 (/usr/bin/qemu-system-x86_64)",
		"qemu microvm": "supports -M microvm",
		"accel":        "kvm (accel=auto: KVM runs guests)",
		"vmm":          "qemu (vmm=auto: firecracker is not installed)",
		"firecracker":  "not installed; another backend runs VMs",
		"kvm guest":    "a test guest booted under KVM (probe: guest reached userspace in 0.4s)",
	}
	for name, detail := range want {
		if got := doctortest.MustFind(t, r, name).Detail; got != detail {
			t.Errorf("%s detail = %q, want %q", name, got, detail)
		}
	}
	for _, name := range []string{"root", "kvm", "qemu-img"} {
		if c := doctortest.MustFind(t, r, name); c.Status != doctor.StatusOK {
			t.Errorf("%s = %s (%s), want ok", name, c.Status, c.Detail)
		}
	}
	if !strings.Contains(doctortest.Dump(r), "all checks passed.") {
		t.Errorf("summary missing:\n%s", doctortest.Dump(r))
	}
}

func TestMissingQEMU(t *testing.T) {
	h := newHost(t)
	delete(h.Bins, "qemu-system-x86_64")
	delete(h.Bins, "qemu-img")
	r := doctor.Run(context.Background(), h.Inputs(builtin.Registry()))
	if !r.Failed() {
		t.Fatalf("missing qemu did not fail the report:\n%s", doctortest.Dump(r))
	}
	q := doctortest.MustFind(t, r, "qemu")
	if q.Status != doctor.StatusFail || !q.Hard {
		t.Errorf("qemu = %s hard=%v, want hard fail", q.Status, q.Hard)
	}
	if !strings.Contains(q.Fix, "apt-get install qemu-system-x86") {
		t.Errorf("qemu fix = %q, want it to name qemu-system-x86", q.Fix)
	}
	if img := doctortest.MustFind(t, r, "qemu-img"); img.Status != doctor.StatusFail || img.Fix != "apt-get install qemu-utils" {
		t.Errorf("qemu-img = %s fix %q, want fail with apt-get install qemu-utils", img.Status, img.Fix)
	}
	if _, ok := r.Find("qemu microvm"); ok {
		t.Error("microvm support checked without a qemu binary")
	}
	for _, cmd := range h.Ran {
		if strings.Contains(cmd, "qemu-system") {
			t.Errorf("ran %q although qemu is missing", cmd)
		}
	}
}

func TestQEMUOptionalWhenFirecrackerChosen(t *testing.T) {
	h := newHost(t)
	h.Bins["firecracker"] = "/usr/bin/firecracker"
	delete(h.Bins, "qemu-system-x86_64")
	r := doctor.Run(context.Background(), h.Inputs(builtin.Registry()))
	if r.Failed() {
		t.Fatalf("missing qemu failed the report although firecracker is the backend:\n%s", doctortest.Dump(r))
	}
	if q := doctortest.MustFind(t, r, "qemu"); q.Status != doctor.StatusWarn || q.Hard {
		t.Errorf("qemu = %s hard=%v, want soft warn", q.Status, q.Hard)
	}
	if fc := doctortest.MustFind(t, r, "firecracker"); fc.Status != doctor.StatusOK || !strings.HasPrefix(fc.Detail, "firecracker 1.16.1 (supported: ") {
		t.Errorf("firecracker = %s %q", fc.Status, fc.Detail)
	}
	if rd := doctortest.MustFind(t, r, "fc root disk"); !strings.Contains(rd.Detail, "copy") && !strings.Contains(rd.Detail, "snapshot") {
		t.Errorf("fc root disk = %q", rd.Detail)
	}
}

func TestFirecrackerOutsideSupportedRangeWarns(t *testing.T) {
	h := newHost(t)
	h.Bins["firecracker"] = "/usr/bin/firecracker"
	h.Cmds["/usr/bin/firecracker --version"] = doctortest.Result{Out: "Firecracker v1.7.0\n"}
	r := doctor.Run(context.Background(), h.Inputs(builtin.Registry()))
	fc := doctortest.MustFind(t, r, "firecracker")
	if fc.Status != doctor.StatusWarn || !strings.Contains(fc.Detail, "older than") || fc.Fix == "" {
		t.Errorf("firecracker 1.7.0 = %s %q fix %q; want a warning with a fix", fc.Status, fc.Detail, fc.Fix)
	}
}

func TestQEMUWithoutMicrovm(t *testing.T) {
	h := newHost(t)
	h.Cmds["/usr/bin/qemu-system-x86_64 -M help"] = doctortest.Result{Out: "Supported machines are:\npc                   Standard PC\nmicrovm-like  not it\n"}
	r := doctor.Run(context.Background(), h.Inputs(builtin.Registry()))
	m := doctortest.MustFind(t, r, "qemu microvm")
	if m.Status != doctor.StatusFail || !r.Failed() {
		t.Errorf("qemu microvm = %s, Failed=%v; want hard fail", m.Status, r.Failed())
	}
}

func TestKVMProbeCannotRunGuest(t *testing.T) {
	h := newHost(t)
	h.Probe = func(context.Context) (bool, string, error) {
		return false, "guest hung in early boot", nil
	}
	r := doctor.Run(context.Background(), h.Inputs(builtin.Registry()))
	if r.Failed() {
		t.Fatalf("probe failure with accel=auto must not fail the report:\n%s", doctortest.Dump(r))
	}
	g := doctortest.MustFind(t, r, "kvm guest")
	if g.Status != doctor.StatusWarn {
		t.Errorf("kvm guest = %s, want warn", g.Status)
	}
	for _, want := range []string{
		"KVM is present but cannot run a guest kernel here (e.g. nested virtualization without full support)",
		"VMs boot under QEMU TCG software emulation, roughly 5-20x slower to boot",
		"With accel=auto banger uses tcg",
		"guest hung in early boot",
	} {
		if !strings.Contains(g.Detail, want) {
			t.Errorf("kvm guest detail %q lacks %q", g.Detail, want)
		}
	}
	if a := doctortest.MustFind(t, r, "accel"); !strings.HasPrefix(a.Detail, "tcg (accel=auto: KVM cannot run a guest kernel here") {
		t.Errorf("accel detail = %q, want tcg with the reason", a.Detail)
	}
	if k := doctortest.MustFind(t, r, "kvm"); k.Status != doctor.StatusOK {
		t.Errorf("kvm device = %s, want ok (the device itself is fine)", k.Status)
	}
}

func TestAccelKVMForcedButProbeFails(t *testing.T) {
	h := newHost(t)
	h.Probe = func(context.Context) (bool, string, error) { return false, "", nil }
	in := h.Inputs(builtin.Registry())
	in.Env.Settings["accel"] = "kvm"
	r := doctor.Run(context.Background(), in)
	if !r.Failed() {
		t.Fatalf("accel=kvm with a failing probe must fail:\n%s", doctortest.Dump(r))
	}
	for _, name := range []string{"kvm guest", "accel"} {
		c := doctortest.MustFind(t, r, name)
		if c.Status != doctor.StatusFail || !c.Hard {
			t.Errorf("%s = %s hard=%v, want hard fail", name, c.Status, c.Hard)
		}
		if !strings.Contains(c.Fix, `accel = "auto"`) {
			t.Errorf("%s fix %q does not suggest accel = \"auto\"", name, c.Fix)
		}
	}
}

func TestKVMDevice(t *testing.T) {
	tests := []struct {
		name       string
		accel      string
		breakKVM   func(t *testing.T, h *doctortest.Host)
		cpuinfo    string
		wantStatus doctor.Status
		wantAccel  string
		wantFix    string
		wantFailed bool
	}{
		{
			name:       "missing, intel cpu",
			accel:      "auto",
			breakKVM:   func(t *testing.T, h *doctortest.Host) { h.Remove(t, "dev/kvm") },
			wantStatus: doctor.StatusWarn,
			wantAccel:  "tcg (accel=auto: /dev/kvm is missing;",
			wantFix:    "modprobe kvm_intel",
		},
		{
			name:       "missing, amd cpu",
			accel:      "auto",
			breakKVM:   func(t *testing.T, h *doctortest.Host) { h.Remove(t, "dev/kvm") },
			cpuinfo:    "flags\t: fpu svm\n",
			wantStatus: doctor.StatusWarn,
			wantAccel:  "tcg",
			wantFix:    "modprobe kvm_amd",
		},
		{
			name:       "missing, no virtualization flags",
			accel:      "auto",
			breakKVM:   func(t *testing.T, h *doctortest.Host) { h.Remove(t, "dev/kvm") },
			cpuinfo:    "flags\t: fpu sse2\n",
			wantStatus: doctor.StatusWarn,
			wantAccel:  "tcg",
			wantFix:    "no vmx/svm flag",
		},
		{
			name:       "missing with accel=kvm",
			accel:      "kvm",
			breakKVM:   func(t *testing.T, h *doctortest.Host) { h.Remove(t, "dev/kvm") },
			wantStatus: doctor.StatusFail,
			wantAccel:  "kvm is forced by config accel=kvm but /dev/kvm is missing",
			wantFix:    "modprobe kvm_intel",
			wantFailed: true,
		},
		{
			name:       "missing with accel=tcg",
			accel:      "tcg",
			breakKVM:   func(t *testing.T, h *doctortest.Host) { h.Remove(t, "dev/kvm") },
			wantStatus: doctor.StatusInfo,
			wantAccel:  "tcg (set by config accel=tcg",
		},
		{
			name:  "not openable",
			accel: "auto",
			breakKVM: func(t *testing.T, h *doctortest.Host) {
				h.Remove(t, "dev/kvm")
				h.Mkdir(t, "dev/kvm") // opening a directory read-write fails, even as root
			},
			wantStatus: doctor.StatusWarn,
			wantAccel:  "tcg (accel=auto: /dev/kvm cannot be opened;",
			wantFix:    "--device /dev/kvm",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			probed := false
			h.Probe = func(context.Context) (bool, string, error) { probed = true; return true, "", nil }
			tt.breakKVM(t, h)
			if tt.cpuinfo != "" {
				h.Write(t, "proc/cpuinfo", tt.cpuinfo)
			}
			in := h.Inputs(builtin.Registry())
			in.Env.Settings["accel"] = tt.accel
			r := doctor.Run(context.Background(), in)
			k := doctortest.MustFind(t, r, "kvm")
			if k.Status != tt.wantStatus {
				t.Errorf("kvm = %s (%s), want %s", k.Status, k.Detail, tt.wantStatus)
			}
			if !strings.Contains(k.Fix, tt.wantFix) {
				t.Errorf("kvm fix = %q, want it to contain %q", k.Fix, tt.wantFix)
			}
			if a := doctortest.MustFind(t, r, "accel"); !strings.HasPrefix(a.Detail, tt.wantAccel) {
				t.Errorf("accel = %q, want prefix %q", a.Detail, tt.wantAccel)
			}
			if probed {
				t.Error("probe ran although /dev/kvm is unusable")
			}
			if _, ok := r.Find("kvm guest"); ok {
				t.Error("kvm guest line present although /dev/kvm is unusable")
			}
			if r.Failed() != tt.wantFailed {
				t.Errorf("Failed() = %v, want %v:\n%s", r.Failed(), tt.wantFailed, doctortest.Dump(r))
			}
		})
	}
}

func TestKVMProbeUnavailableOrErrored(t *testing.T) {
	tests := []struct {
		name       string
		probe      func(context.Context) (bool, string, error)
		wantStatus doctor.Status
		wantDetail string
	}{
		{"no kernel to probe with", nil, doctor.StatusInfo, "not probed: no guest kernel is available yet"},
		{"probe errored", func(context.Context) (bool, string, error) {
			return false, "", errors.New("start qemu: exec format error")
		}, doctor.StatusWarn, "could not test-boot a guest under KVM: start qemu: exec format error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			h.Probe = tt.probe
			h.Bins["firecracker"] = "/usr/bin/firecracker"
			r := doctor.Run(context.Background(), h.Inputs(builtin.Registry()))
			g := doctortest.MustFind(t, r, "kvm guest")
			if g.Status != tt.wantStatus || !strings.HasPrefix(g.Detail, tt.wantDetail) {
				t.Errorf("kvm guest = %s %q, want %s %q", g.Status, g.Detail, tt.wantStatus, tt.wantDetail)
			}
			if a := doctortest.MustFind(t, r, "accel").Detail; a != "kvm (accel=auto: /dev/kvm is usable; not yet verified by booting a guest)" {
				t.Errorf("accel = %q", a)
			}
			// Firecracker has no software fallback, so auto needs a verified KVM.
			if v := doctortest.MustFind(t, r, "vmm").Detail; !strings.HasPrefix(v, "qemu (vmm=auto: firecracker needs KVM and KVM is not yet verified") {
				t.Errorf("vmm = %q", v)
			}
			if r.Failed() {
				t.Errorf("unverified KVM failed the report:\n%s", doctortest.Dump(r))
			}
		})
	}
}

func TestVMMChoice(t *testing.T) {
	works := func(context.Context) (bool, string, error) { return true, "", nil }
	broken := func(context.Context) (bool, string, error) { return false, "", nil }
	tests := []struct {
		name       string
		vmm, accel string
		fc         bool
		probe      func(context.Context) (bool, string, error)
		wantDetail string
		wantFailed bool
		wantVMM    string
		wantAccel  string
	}{
		{"auto, firecracker and kvm", "auto", "auto", true, works, "firecracker (vmm=auto: the highest-ranked backend, and available)", false, "firecracker", "kvm"},
		{"auto, no firecracker", "auto", "auto", false, works, "qemu (vmm=auto: firecracker is not installed)", false, "qemu", "kvm"},
		{"auto, firecracker but kvm broken", "auto", "auto", true, broken, "qemu (vmm=auto: firecracker needs KVM and KVM cannot run a guest kernel here)", false, "qemu", "tcg"},
		{"auto, accel tcg", "auto", "tcg", true, works, "qemu (vmm=auto: firecracker needs KVM and the config sets accel=tcg)", false, "qemu", "tcg"},
		{"qemu forced", "qemu", "auto", true, works, "qemu (set by config vmm=qemu)", false, "qemu", "kvm"},
		{"firecracker forced", "firecracker", "auto", true, works, "firecracker (set by config vmm=firecracker)", false, "firecracker", "kvm"},
		{"firecracker forced, missing", "firecracker", "auto", false, works, "firecracker (set by config vmm=firecracker)", true, "firecracker", "kvm"},
		{"firecracker forced, kvm broken", "firecracker", "auto", true, broken, "firecracker (set by config vmm=firecracker)", true, "firecracker", "tcg"},
		{"unknown vmm", "xen", "auto", true, works, `unknown vmm "xen" in the config`, true, "", "kvm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			if tt.fc {
				h.Bins["firecracker"] = "/usr/bin/firecracker"
			}
			h.Probe = tt.probe
			in := h.Inputs(builtin.Registry())
			in.VMM, in.Env.Settings["accel"] = tt.vmm, tt.accel
			r := doctor.Run(context.Background(), in)
			if got := doctortest.MustFind(t, r, "vmm").Detail; got != tt.wantDetail {
				t.Errorf("vmm = %q, want %q", got, tt.wantDetail)
			}
			if r.VMM != tt.wantVMM || !strings.HasPrefix(doctortest.MustFind(t, r, "accel").Detail, tt.wantAccel+" ") {
				t.Errorf("chosen vmm/accel = %q/%q, want %q/%q", r.VMM, doctortest.MustFind(t, r, "accel").Detail, tt.wantVMM, tt.wantAccel)
			}
			if r.Failed() != tt.wantFailed {
				t.Errorf("Failed() = %v, want %v:\n%s", r.Failed(), tt.wantFailed, doctortest.Dump(r))
			}
		})
	}
}

func TestUnknownAccel(t *testing.T) {
	h := newHost(t)
	in := h.Inputs(builtin.Registry())
	in.Env.Settings["accel"] = "hvf"
	r := doctor.Run(context.Background(), in)
	if a := doctortest.MustFind(t, r, "accel"); a.Status != doctor.StatusFail || !r.Failed() {
		t.Errorf("accel = %s, Failed=%v; want hard fail", a.Status, r.Failed())
	}
}

const qemuVersionOut = "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n"

const qemuMachinesOut = "Supported machines are:\nmicrovm              microvm (i386)\npc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)\nq35                  Standard PC (Q35 + ICH9, 2009)\n"

// newHost is a healthy host with QEMU installed; Firecracker's binary is
// missing until a test adds it.
func newHost(t *testing.T) *doctortest.Host {
	h := doctortest.New(t)
	for _, b := range []string{"qemu-system-x86_64", "qemu-img"} {
		h.Bins[b] = "/usr/bin/" + b
	}
	h.Cmds["/usr/bin/qemu-system-x86_64 --version"] = doctortest.Result{Out: qemuVersionOut}
	h.Cmds["/usr/bin/qemu-system-x86_64 -M help"] = doctortest.Result{Out: qemuMachinesOut}
	h.Cmds["/usr/bin/firecracker --version"] = doctortest.Result{Out: "Firecracker v1.16.1\n\nSupported snapshot data format versions: v1.0.0\n"}
	return h
}
