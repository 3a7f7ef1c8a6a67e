package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const qemuVersionOut = "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n"

const qemuMachinesOut = "Supported machines are:\nmicrovm              microvm (i386)\npc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)\nq35                  Standard PC (Q35 + ICH9, 2009)\n"

type cmdResult struct {
	out string
	err error
}

// fakeHost is a healthy host laid out under a temporary directory; tests
// break one thing at a time.
type fakeHost struct {
	root  string
	bins  map[string]string    // program name -> path LookPath returns
	cmds  map[string]cmdResult // "argv joined by spaces" -> result
	ran   []string
	free  uint64
	uid   int
	probe func(ctx context.Context) (bool, string, error)
}

func newFakeHost(t *testing.T) *fakeHost {
	t.Helper()
	h := &fakeHost{
		root: t.TempDir(),
		bins: map[string]string{},
		cmds: map[string]cmdResult{
			"/usr/bin/qemu-system-x86_64 --version": {out: qemuVersionOut},
			"/usr/bin/qemu-system-x86_64 -M help":   {out: qemuMachinesOut},
			"/usr/bin/firecracker --version":        {out: "Firecracker v1.16.1\n\nSupported snapshot data format versions: v1.0.0\n"},
		},
		free: 100 * gib,
		probe: func(context.Context) (bool, string, error) {
			return true, "guest reached userspace in 0.4s", nil
		},
	}
	for _, b := range []string{"qemu-system-x86_64", "qemu-img", "debootstrap", "ssh", "ip", "nft", "modinfo"} {
		h.bins[b] = "/usr/bin/" + b
	}
	for _, b := range []string{"mkfs.ext4", "debugfs"} {
		h.bins[b] = "/usr/sbin/" + b
	}
	h.file(t, "dev/kvm")
	h.file(t, "dev/net/tun")
	h.file(t, "dev/vhost-vsock")
	h.mkdir(t, "sys/module/bridge")
	h.mkdir(t, "sys/module/tun")
	h.write(t, "proc/cpuinfo", "processor\t: 0\nflags\t\t: fpu vme de pse vmx ssse3\n")
	h.mkdir(t, "var/lib/banger")
	h.mkdir(t, "run")
	return h
}

func (h *fakeHost) path(rel string) string { return filepath.Join(h.root, rel) }

func (h *fakeHost) mkdir(t *testing.T, rel string) {
	t.Helper()
	if err := os.MkdirAll(h.path(rel), 0o755); err != nil {
		t.Fatal(err)
	}
	// MkdirAll honours the umask; make the mode exact.
	if err := os.Chmod(h.path(rel), 0o755); err != nil {
		t.Fatal(err)
	}
}

func (h *fakeHost) write(t *testing.T, rel, content string) {
	t.Helper()
	h.mkdir(t, filepath.Dir(rel))
	if err := os.WriteFile(h.path(rel), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (h *fakeHost) file(t *testing.T, rel string) { h.write(t, rel, "") }

func (h *fakeHost) remove(t *testing.T, rel string) {
	t.Helper()
	if err := os.RemoveAll(h.path(rel)); err != nil {
		t.Fatal(err)
	}
}

func (h *fakeHost) inputs() Inputs {
	return Inputs{
		StateDir:   h.path("var/lib/banger"),
		RuntimeDir: h.path("run/banger"),
		VMM:        "auto",
		Accel:      "auto",
		BridgeName: "banger0",
		KVMProbe:   h.probe,
		LookPath: func(name string) (string, error) {
			if p, ok := h.bins[name]; ok {
				return p, nil
			}
			return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
		},
		Run: func(_ context.Context, name string, args ...string) (string, error) {
			key := strings.Join(append([]string{name}, args...), " ")
			h.ran = append(h.ran, key)
			r, ok := h.cmds[key]
			if !ok {
				return "", fmt.Errorf("unexpected command %q", key)
			}
			return r.out, r.err
		},
		ProcRoot: h.path("proc"),
		SysRoot:  h.path("sys"),
		DevRoot:  h.path("dev"),
		Statfs:   func(string) (uint64, error) { return h.free, nil },
		Geteuid:  func() int { return h.uid },
	}
}

func mustFind(t *testing.T, r Report, name string) Check {
	t.Helper()
	c, ok := r.Find(name)
	if !ok {
		var b bytes.Buffer
		r.Write(&b)
		t.Fatalf("no %q check in report:\n%s", name, b.String())
	}
	return c
}

func dump(r Report) string {
	var b bytes.Buffer
	r.Write(&b)
	return b.String()
}

func TestAllGoodHost(t *testing.T) {
	h := newFakeHost(t)
	r := Run(context.Background(), h.inputs())
	if r.Failed() {
		t.Fatalf("healthy host failed:\n%s", dump(r))
	}
	for _, c := range r.Checks {
		if c.Status != StatusOK && c.Status != StatusInfo {
			t.Errorf("check %q = %s (%s), want ok or info", c.Name, c.Status, c.Detail)
		}
	}
	want := map[string]string{
		"qemu":         "qemu-system-x86_64 7.2.22 (/usr/bin/qemu-system-x86_64)",
		"qemu microvm": "supports -M microvm",
		"accel":        "kvm (accel=auto: KVM runs guests)",
		"vmm":          "qemu (vmm=auto: firecracker is not installed)",
		"firecracker":  "not installed; the QEMU backend is used",
		"kvm guest":    "a test guest booted under KVM (probe: guest reached userspace in 0.4s)",
		"bridge":       "bridge module loaded; bangerd creates bridge banger0 on start",
		"disk":         "100.0 GiB free on the file system holding " + h.path("var/lib/banger"),
		"state dir":    h.path("var/lib/banger") + " (mode 0755)",
		"runtime dir":  h.path("run/banger") + " does not exist yet; bangerd creates it (" + h.path("run") + " is writable)",
	}
	for name, detail := range want {
		if got := mustFind(t, r, name).Detail; got != detail {
			t.Errorf("%s detail = %q, want %q", name, got, detail)
		}
	}
	for _, name := range []string{"root", "kvm", "qemu-img", "debootstrap", "mkfs.ext4", "debugfs", "ssh", "ip", "nft", "tun", "vsock"} {
		if c := mustFind(t, r, name); c.Status != StatusOK {
			t.Errorf("%s = %s (%s), want ok", name, c.Status, c.Detail)
		}
	}
	if !strings.Contains(dump(r), "all checks passed.") {
		t.Errorf("summary missing:\n%s", dump(r))
	}
}

func TestMissingQEMU(t *testing.T) {
	h := newFakeHost(t)
	delete(h.bins, "qemu-system-x86_64")
	delete(h.bins, "qemu-img")
	r := Run(context.Background(), h.inputs())
	if !r.Failed() {
		t.Fatalf("missing qemu did not fail the report:\n%s", dump(r))
	}
	q := mustFind(t, r, "qemu")
	if q.Status != StatusFail || !q.Hard {
		t.Errorf("qemu = %s hard=%v, want hard fail", q.Status, q.Hard)
	}
	if !strings.Contains(q.Fix, "apt-get install qemu-system-x86") {
		t.Errorf("qemu fix = %q, want it to name qemu-system-x86", q.Fix)
	}
	if img := mustFind(t, r, "qemu-img"); img.Status != StatusFail || img.Fix != "apt-get install qemu-utils" {
		t.Errorf("qemu-img = %s fix %q, want fail with apt-get install qemu-utils", img.Status, img.Fix)
	}
	if _, ok := r.Find("qemu microvm"); ok {
		t.Error("microvm support checked without a qemu binary")
	}
	for _, cmd := range h.ran {
		if strings.Contains(cmd, "qemu-system") {
			t.Errorf("ran %q although qemu is missing", cmd)
		}
	}
}

func TestQEMUOptionalWhenFirecrackerChosen(t *testing.T) {
	h := newFakeHost(t)
	h.bins["firecracker"] = "/usr/bin/firecracker"
	delete(h.bins, "qemu-system-x86_64")
	r := Run(context.Background(), h.inputs())
	if r.Failed() {
		t.Fatalf("missing qemu failed the report although firecracker is the backend:\n%s", dump(r))
	}
	if q := mustFind(t, r, "qemu"); q.Status != StatusWarn || q.Hard {
		t.Errorf("qemu = %s hard=%v, want soft warn", q.Status, q.Hard)
	}
	if fc := mustFind(t, r, "firecracker"); fc.Status != StatusOK || !strings.HasPrefix(fc.Detail, "firecracker 1.16.1 (supported: ") {
		t.Errorf("firecracker = %s %q", fc.Status, fc.Detail)
	}
	if rd := mustFind(t, r, "fc root disk"); !strings.Contains(rd.Detail, "copy") && !strings.Contains(rd.Detail, "snapshot") {
		t.Errorf("fc root disk = %q", rd.Detail)
	}
}

func TestFirecrackerOutsideSupportedRangeWarns(t *testing.T) {
	h := newFakeHost(t)
	h.bins["firecracker"] = "/usr/bin/firecracker"
	h.cmds["/usr/bin/firecracker --version"] = cmdResult{out: "Firecracker v1.7.0\n"}
	r := Run(context.Background(), h.inputs())
	fc := mustFind(t, r, "firecracker")
	if fc.Status != StatusWarn || !strings.Contains(fc.Detail, "older than") || fc.Fix == "" {
		t.Errorf("firecracker 1.7.0 = %s %q fix %q; want a warning with a fix", fc.Status, fc.Detail, fc.Fix)
	}
}

func TestQEMUWithoutMicrovm(t *testing.T) {
	h := newFakeHost(t)
	h.cmds["/usr/bin/qemu-system-x86_64 -M help"] = cmdResult{out: "Supported machines are:\npc                   Standard PC\nmicrovm-like  not it\n"}
	r := Run(context.Background(), h.inputs())
	m := mustFind(t, r, "qemu microvm")
	if m.Status != StatusFail || !r.Failed() {
		t.Errorf("qemu microvm = %s, Failed=%v; want hard fail", m.Status, r.Failed())
	}
}

func TestKVMProbeCannotRunGuest(t *testing.T) {
	h := newFakeHost(t)
	h.probe = func(context.Context) (bool, string, error) {
		return false, "guest hung in early boot", nil
	}
	r := Run(context.Background(), h.inputs())
	if r.Failed() {
		t.Fatalf("probe failure with accel=auto must not fail the report:\n%s", dump(r))
	}
	g := mustFind(t, r, "kvm guest")
	if g.Status != StatusWarn {
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
	if a := mustFind(t, r, "accel"); !strings.HasPrefix(a.Detail, "tcg (accel=auto: KVM cannot run a guest kernel here") {
		t.Errorf("accel detail = %q, want tcg with the reason", a.Detail)
	}
	if k := mustFind(t, r, "kvm"); k.Status != StatusOK {
		t.Errorf("kvm device = %s, want ok (the device itself is fine)", k.Status)
	}
}

func TestAccelKVMForcedButProbeFails(t *testing.T) {
	h := newFakeHost(t)
	h.probe = func(context.Context) (bool, string, error) { return false, "", nil }
	in := h.inputs()
	in.Accel = "kvm"
	r := Run(context.Background(), in)
	if !r.Failed() {
		t.Fatalf("accel=kvm with a failing probe must fail:\n%s", dump(r))
	}
	for _, name := range []string{"kvm guest", "accel"} {
		c := mustFind(t, r, name)
		if c.Status != StatusFail || !c.Hard {
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
		breakKVM   func(t *testing.T, h *fakeHost)
		cpuinfo    string
		wantStatus Status
		wantAccel  string
		wantFix    string
		wantFailed bool
	}{
		{
			name:       "missing, intel cpu",
			accel:      "auto",
			breakKVM:   func(t *testing.T, h *fakeHost) { h.remove(t, "dev/kvm") },
			wantStatus: StatusWarn,
			wantAccel:  "tcg (accel=auto: /dev/kvm is missing;",
			wantFix:    "modprobe kvm_intel",
		},
		{
			name:       "missing, amd cpu",
			accel:      "auto",
			breakKVM:   func(t *testing.T, h *fakeHost) { h.remove(t, "dev/kvm") },
			cpuinfo:    "flags\t: fpu svm\n",
			wantStatus: StatusWarn,
			wantAccel:  "tcg",
			wantFix:    "modprobe kvm_amd",
		},
		{
			name:       "missing, no virtualization flags",
			accel:      "auto",
			breakKVM:   func(t *testing.T, h *fakeHost) { h.remove(t, "dev/kvm") },
			cpuinfo:    "flags\t: fpu sse2\n",
			wantStatus: StatusWarn,
			wantAccel:  "tcg",
			wantFix:    "no vmx/svm flag",
		},
		{
			name:       "missing with accel=kvm",
			accel:      "kvm",
			breakKVM:   func(t *testing.T, h *fakeHost) { h.remove(t, "dev/kvm") },
			wantStatus: StatusFail,
			wantAccel:  "kvm is forced by config accel=kvm but /dev/kvm is missing",
			wantFix:    "modprobe kvm_intel",
			wantFailed: true,
		},
		{
			name:       "missing with accel=tcg",
			accel:      "tcg",
			breakKVM:   func(t *testing.T, h *fakeHost) { h.remove(t, "dev/kvm") },
			wantStatus: StatusInfo,
			wantAccel:  "tcg (set by config accel=tcg",
		},
		{
			name:  "not openable",
			accel: "auto",
			breakKVM: func(t *testing.T, h *fakeHost) {
				h.remove(t, "dev/kvm")
				h.mkdir(t, "dev/kvm") // opening a directory read-write fails, even as root
			},
			wantStatus: StatusWarn,
			wantAccel:  "tcg (accel=auto: /dev/kvm cannot be opened;",
			wantFix:    "--device /dev/kvm",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHost(t)
			probed := false
			h.probe = func(context.Context) (bool, string, error) { probed = true; return true, "", nil }
			tt.breakKVM(t, h)
			if tt.cpuinfo != "" {
				h.write(t, "proc/cpuinfo", tt.cpuinfo)
			}
			in := h.inputs()
			in.Accel = tt.accel
			r := Run(context.Background(), in)
			k := mustFind(t, r, "kvm")
			if k.Status != tt.wantStatus {
				t.Errorf("kvm = %s (%s), want %s", k.Status, k.Detail, tt.wantStatus)
			}
			if !strings.Contains(k.Fix, tt.wantFix) {
				t.Errorf("kvm fix = %q, want it to contain %q", k.Fix, tt.wantFix)
			}
			if a := mustFind(t, r, "accel"); !strings.HasPrefix(a.Detail, tt.wantAccel) {
				t.Errorf("accel = %q, want prefix %q", a.Detail, tt.wantAccel)
			}
			if probed {
				t.Error("probe ran although /dev/kvm is unusable")
			}
			if _, ok := r.Find("kvm guest"); ok {
				t.Error("kvm guest line present although /dev/kvm is unusable")
			}
			if r.Failed() != tt.wantFailed {
				t.Errorf("Failed() = %v, want %v:\n%s", r.Failed(), tt.wantFailed, dump(r))
			}
		})
	}
}

func TestKVMProbeUnavailableOrErrored(t *testing.T) {
	tests := []struct {
		name       string
		probe      func(context.Context) (bool, string, error)
		wantStatus Status
		wantDetail string
	}{
		{"no kernel to probe with", nil, StatusInfo, "not probed: no guest kernel is available yet"},
		{"probe errored", func(context.Context) (bool, string, error) {
			return false, "", errors.New("start qemu: exec format error")
		}, StatusWarn, "could not test-boot a guest under KVM: start qemu: exec format error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHost(t)
			h.probe = tt.probe
			h.bins["firecracker"] = "/usr/bin/firecracker"
			r := Run(context.Background(), h.inputs())
			g := mustFind(t, r, "kvm guest")
			if g.Status != tt.wantStatus || !strings.HasPrefix(g.Detail, tt.wantDetail) {
				t.Errorf("kvm guest = %s %q, want %s %q", g.Status, g.Detail, tt.wantStatus, tt.wantDetail)
			}
			if a := mustFind(t, r, "accel").Detail; a != "kvm (accel=auto: /dev/kvm is usable; not yet verified by booting a guest)" {
				t.Errorf("accel = %q", a)
			}
			// Firecracker has no software fallback, so auto needs a verified KVM.
			if v := mustFind(t, r, "vmm").Detail; !strings.HasPrefix(v, "qemu (vmm=auto: firecracker is installed but needs KVM and KVM is not yet verified") {
				t.Errorf("vmm = %q", v)
			}
			if r.Failed() {
				t.Errorf("unverified KVM failed the report:\n%s", dump(r))
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
		{"auto, firecracker and kvm", "auto", "auto", true, works, "firecracker (vmm=auto: firecracker is installed and KVM runs guests)", false, "firecracker", "kvm"},
		{"auto, no firecracker", "auto", "auto", false, works, "qemu (vmm=auto: firecracker is not installed)", false, "qemu", "kvm"},
		{"auto, firecracker but kvm broken", "auto", "auto", true, broken, "qemu (vmm=auto: firecracker is installed but needs KVM and KVM cannot run a guest kernel here; qemu can fall back to TCG)", false, "qemu", "tcg"},
		{"auto, accel tcg", "auto", "tcg", true, works, "qemu (vmm=auto: accel is tcg and firecracker needs KVM)", false, "qemu", "tcg"},
		{"qemu forced", "qemu", "auto", true, works, "qemu (set by config vmm=qemu)", false, "qemu", "kvm"},
		{"firecracker forced", "firecracker", "auto", true, works, "firecracker (set by config vmm=firecracker)", false, "firecracker", "kvm"},
		{"firecracker forced, missing", "firecracker", "auto", false, works, "firecracker is set by config vmm=firecracker but is not installed", true, "", "kvm"},
		{"firecracker forced, kvm broken", "firecracker", "auto", true, broken, "firecracker is set by config vmm=firecracker but needs KVM, and KVM cannot run a guest kernel here", true, "", "tcg"},
		{"unknown vmm", "xen", "auto", true, works, `unknown vmm "xen" in the config`, true, "", "kvm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHost(t)
			if tt.fc {
				h.bins["firecracker"] = "/usr/bin/firecracker"
			}
			h.probe = tt.probe
			in := h.inputs()
			in.VMM, in.Accel = tt.vmm, tt.accel
			r := Run(context.Background(), in)
			if got := mustFind(t, r, "vmm").Detail; got != tt.wantDetail {
				t.Errorf("vmm = %q, want %q", got, tt.wantDetail)
			}
			if r.VMM != tt.wantVMM || r.Accel != tt.wantAccel {
				t.Errorf("chosen vmm/accel = %q/%q, want %q/%q", r.VMM, r.Accel, tt.wantVMM, tt.wantAccel)
			}
			if r.Failed() != tt.wantFailed {
				t.Errorf("Failed() = %v, want %v:\n%s", r.Failed(), tt.wantFailed, dump(r))
			}
		})
	}
}

func TestDiskThresholds(t *testing.T) {
	tests := []struct {
		free       uint64
		want       Status
		wantFailed bool
	}{
		{50 * gib, StatusOK, false},
		{DiskWarnBytes, StatusOK, false},
		{DiskWarnBytes - 1, StatusWarn, false},
		{5 * gib, StatusWarn, false},
		{DiskFailBytes, StatusWarn, false},
		{DiskFailBytes - 1, StatusFail, true},
		{512 << 20, StatusFail, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.free), func(t *testing.T) {
			h := newFakeHost(t)
			h.free = tt.free
			r := Run(context.Background(), h.inputs())
			d := mustFind(t, r, "disk")
			if d.Status != tt.want {
				t.Errorf("disk = %s (%s), want %s", d.Status, d.Detail, tt.want)
			}
			if r.Failed() != tt.wantFailed {
				t.Errorf("Failed() = %v, want %v", r.Failed(), tt.wantFailed)
			}
			if tt.want != StatusOK && !strings.Contains(d.Fix, "state_dir") {
				t.Errorf("disk fix %q does not mention state_dir", d.Fix)
			}
		})
	}
}

func TestDiskUsesNearestExistingParent(t *testing.T) {
	h := newFakeHost(t)
	var asked string
	in := h.inputs()
	in.StateDir = h.path("var/lib/banger/not/yet/here")
	in.Statfs = func(p string) (uint64, error) { asked = p; return 20 * gib, nil }
	Run(context.Background(), in)
	if asked != h.path("var/lib/banger") {
		t.Errorf("Statfs(%q), want the nearest existing parent %q", asked, h.path("var/lib/banger"))
	}
}

func TestDirectories(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(t *testing.T, h *fakeHost)
		writable   bool
		want       Status
		wantDetail string
		wantFix    string
	}{
		{"exists", func(*testing.T, *fakeHost) {}, true, StatusOK, "(mode 0755)", ""},
		{"missing under writable parent", func(t *testing.T, h *fakeHost) { h.remove(t, "var/lib/banger") }, true, StatusOK, "does not exist yet; bangerd creates it", ""},
		{"missing under read-only parent", func(t *testing.T, h *fakeHost) { h.remove(t, "var/lib/banger") }, false, StatusFail, "is not writable", "mkdir -p -m 0755"},
		{"a file", func(t *testing.T, h *fakeHost) { h.remove(t, "var/lib/banger"); h.file(t, "var/lib/banger") }, true, StatusFail, "exists and is not a directory", "state_dir"},
		{"parent is a file", func(t *testing.T, h *fakeHost) { h.remove(t, "var/lib"); h.file(t, "var/lib") }, true, StatusFail, "is not a directory", "move"},
		{"world-writable", func(t *testing.T, h *fakeHost) {
			if err := os.Chmod(h.path("var/lib/banger"), 0o777); err != nil {
				t.Fatal(err)
			}
		}, true, StatusFail, "is world-writable (mode 0777)", "chmod o-w"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHost(t)
			tt.setup(t, h)
			in := h.inputs()
			in.Writable = func(string) bool { return tt.writable }
			r := Run(context.Background(), in)
			c := mustFind(t, r, "state dir")
			if c.Status != tt.want || !strings.Contains(c.Detail, tt.wantDetail) || !strings.Contains(c.Fix, tt.wantFix) {
				t.Errorf("state dir = %s %q fix %q; want %s containing %q, fix containing %q", c.Status, c.Detail, c.Fix, tt.want, tt.wantDetail, tt.wantFix)
			}
			if r.Failed() != (tt.want == StatusFail) {
				t.Errorf("Failed() = %v", r.Failed())
			}
		})
	}
}

func TestTunAndBridge(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(t *testing.T, h *fakeHost)
		check     string
		want      Status
		wantFix   string
		wantFail  bool
		wantInDet string
	}{
		{"tun device missing, module loaded", func(t *testing.T, h *fakeHost) { h.remove(t, "dev/net/tun") }, "tun", StatusFail, "mknod /dev/net/tun c 10 200", true, "tun driver is loaded"},
		{"tun missing entirely", func(t *testing.T, h *fakeHost) { h.remove(t, "dev/net/tun"); h.remove(t, "sys/module/tun") }, "tun", StatusFail, "modprobe tun", true, "not loaded"},
		{"bridge autoloadable", func(t *testing.T, h *fakeHost) {
			h.remove(t, "sys/module/bridge")
			h.cmds["/usr/bin/modinfo bridge"] = cmdResult{out: "filename: bridge.ko\n"}
		}, "bridge", StatusWarn, "modprobe bridge", false, "autoloads"},
		{"bridge unknown to modinfo", func(t *testing.T, h *fakeHost) {
			h.remove(t, "sys/module/bridge")
			h.cmds["/usr/bin/modinfo bridge"] = cmdResult{err: errors.New("exit status 1")}
		}, "bridge", StatusWarn, "linux-image-amd64", false, "modinfo cannot find it"},
		{"bridge loaded via procfs", func(t *testing.T, h *fakeHost) {
			h.remove(t, "sys/module/bridge")
			h.mkdir(t, "proc/sys/net/bridge")
		}, "bridge", StatusOK, "", false, "bridge module loaded"},
		{"bridge already up", func(t *testing.T, h *fakeHost) { h.mkdir(t, "sys/class/net/banger0/bridge") }, "bridge", StatusOK, "", false, "bridge banger0 exists"},
		{"bridge name taken by non-bridge", func(t *testing.T, h *fakeHost) { h.mkdir(t, "sys/class/net/banger0") }, "bridge", StatusFail, "ip link delete banger0", true, "is not a bridge"},
		{"vsock module without device", func(t *testing.T, h *fakeHost) { h.remove(t, "dev/vhost-vsock"); h.mkdir(t, "sys/module/vhost_vsock") }, "vsock", StatusWarn, "--device /dev/vhost-vsock", false, "not used yet"},
		{"vsock absent", func(t *testing.T, h *fakeHost) { h.remove(t, "dev/vhost-vsock") }, "vsock", StatusInfo, "", false, "modprobe vhost_vsock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHost(t)
			tt.setup(t, h)
			r := Run(context.Background(), h.inputs())
			c := mustFind(t, r, tt.check)
			if c.Status != tt.want || !strings.Contains(c.Fix, tt.wantFix) || !strings.Contains(c.Detail, tt.wantInDet) {
				t.Errorf("%s = %s %q fix %q; want %s, detail containing %q, fix containing %q", tt.check, c.Status, c.Detail, c.Fix, tt.want, tt.wantInDet, tt.wantFix)
			}
			if r.Failed() != tt.wantFail {
				t.Errorf("Failed() = %v, want %v", r.Failed(), tt.wantFail)
			}
		})
	}
}

func TestTools(t *testing.T) {
	tests := []struct {
		bin, pkg string
		hard     bool
	}{
		{"debootstrap", "debootstrap", true},
		{"mkfs.ext4", "e2fsprogs", true},
		{"debugfs", "e2fsprogs", true},
		{"ssh", "openssh-client", true},
		{"ip", "iproute2", true},
		{"nft", "nftables", false},
	}
	for _, tt := range tests {
		t.Run(tt.bin, func(t *testing.T) {
			h := newFakeHost(t)
			delete(h.bins, tt.bin)
			r := Run(context.Background(), h.inputs())
			c := mustFind(t, r, tt.bin)
			want := StatusWarn
			if tt.hard {
				want = StatusFail
			}
			if c.Status != want || c.Fix != "apt-get install "+tt.pkg {
				t.Errorf("%s = %s fix %q, want %s with apt-get install %s", tt.bin, c.Status, c.Fix, want, tt.pkg)
			}
			if r.Failed() != tt.hard {
				t.Errorf("Failed() = %v, want %v", r.Failed(), tt.hard)
			}
		})
	}
}

func TestNotRoot(t *testing.T) {
	h := newFakeHost(t)
	h.uid = 1000
	r := Run(context.Background(), h.inputs())
	c := mustFind(t, r, "root")
	if c.Status != StatusFail || !r.Failed() || !strings.Contains(c.Detail, "uid 1000") {
		t.Errorf("root = %s %q, Failed=%v; want hard fail naming the uid", c.Status, c.Detail, r.Failed())
	}
}

func TestWrite(t *testing.T) {
	r := Report{Checks: []Check{
		{Name: "root", Status: StatusOK, Detail: "running as root", Hard: true},
		{Name: "qemu", Status: StatusFail, Detail: "qemu-system-x86_64 not found on PATH", Fix: "apt-get install qemu-system-x86", Hard: true},
		{Name: "kvm guest", Status: StatusWarn, Detail: "KVM is present but cannot run a guest kernel here", Fix: "nothing is required"},
		{Name: "accel", Status: StatusInfo, Detail: "tcg", Fix: "not shown for info"},
	}}
	var b bytes.Buffer
	r.Write(&b)
	want := `[ ok ] root       running as root
[fail] qemu       qemu-system-x86_64 not found on PATH
                  fix: apt-get install qemu-system-x86
[warn] kvm guest  KVM is present but cannot run a guest kernel here
                  fix: nothing is required
[info] accel      tcg

1 hard requirement(s) missing, 0 other failure(s), 1 warning(s): banger cannot run on this host until the hard failures are fixed.
`
	if b.String() != want {
		t.Errorf("Write output:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWriteRunReportHasFixLines(t *testing.T) {
	h := newFakeHost(t)
	delete(h.bins, "debootstrap")
	h.free = 5 * gib
	var b bytes.Buffer
	Run(context.Background(), h.inputs()).Write(&b)
	out := b.String()
	for _, want := range []string{
		"[fail] debootstrap",
		"fix: apt-get install debootstrap",
		"[warn] disk",
		"fix: free space on the file system holding",
		"1 hard requirement(s) missing",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct{ in, want string }{
		{qemuVersionOut, "7.2.22"},
		{"QEMU emulator version 8.2.2 (Debian 1:8.2.2+ds-0ubuntu1)", "8.2.2"},
		{"Firecracker v1.7.0\n", "1.7.0"},
		{"no version here", ""},
	}
	for _, tt := range tests {
		if got := parseVersion(tt.in); got != tt.want {
			t.Errorf("parseVersion(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUnknownAccel(t *testing.T) {
	h := newFakeHost(t)
	in := h.inputs()
	in.Accel = "hvf"
	r := Run(context.Background(), in)
	if a := mustFind(t, r, "accel"); a.Status != StatusFail || !r.Failed() {
		t.Errorf("accel = %s, Failed=%v; want hard fail", a.Status, r.Failed())
	}
}
