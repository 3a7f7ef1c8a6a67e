package doctor_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"banger/internal/doctor"
	"banger/internal/doctor/doctortest"
	"banger/internal/hosttools"
	"banger/internal/vmm"
)

func TestDiskThresholds(t *testing.T) {
	tests := []struct {
		free       uint64
		want       doctor.Status
		wantFailed bool
	}{
		{50 * doctortest.GiB, doctor.StatusOK, false},
		{doctor.DiskWarnBytes, doctor.StatusOK, false},
		{doctor.DiskWarnBytes - 1, doctor.StatusWarn, false},
		{5 * doctortest.GiB, doctor.StatusWarn, false},
		{doctor.DiskFailBytes, doctor.StatusWarn, false},
		{doctor.DiskFailBytes - 1, doctor.StatusFail, true},
		{512 << 20, doctor.StatusFail, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.free), func(t *testing.T) {
			h := newHost(t)
			h.Free = tt.free
			r := doctor.Run(context.Background(), h.Inputs(testRegistry()))
			d := doctortest.MustFind(t, r, "disk")
			if d.Status != tt.want {
				t.Errorf("disk = %s (%s), want %s", d.Status, d.Detail, tt.want)
			}
			if r.Failed() != tt.wantFailed {
				t.Errorf("Failed() = %v, want %v", r.Failed(), tt.wantFailed)
			}
			if tt.want != doctor.StatusOK && !strings.Contains(d.Fix, "state_dir") {
				t.Errorf("disk fix %q does not mention state_dir", d.Fix)
			}
		})
	}
}

func TestDiskUsesNearestExistingParent(t *testing.T) {
	h := newHost(t)
	var asked string
	in := h.Inputs(testRegistry())
	in.StateDir = h.Path("var/lib/banger/not/yet/here")
	in.Statfs = func(p string) (uint64, error) { asked = p; return 20 * doctortest.GiB, nil }
	doctor.Run(context.Background(), in)
	if asked != h.Path("var/lib/banger") {
		t.Errorf("Statfs(%q), want the nearest existing parent %q", asked, h.Path("var/lib/banger"))
	}
}

func TestDirectories(t *testing.T) {
	tests := []struct {
		name       string
		setup      func(t *testing.T, h *doctortest.Host)
		writable   bool
		want       doctor.Status
		wantDetail string
		wantFix    string
	}{
		{"exists", func(*testing.T, *doctortest.Host) {}, true, doctor.StatusOK, "(mode 0755)", ""},
		{"missing under writable parent", func(t *testing.T, h *doctortest.Host) { h.Remove(t, "var/lib/banger") }, true, doctor.StatusOK, "does not exist yet; bangerd creates it", ""},
		{"missing under read-only parent", func(t *testing.T, h *doctortest.Host) { h.Remove(t, "var/lib/banger") }, false, doctor.StatusFail, "is not writable", "mkdir -p -m 0755"},
		{"a file", func(t *testing.T, h *doctortest.Host) { h.Remove(t, "var/lib/banger"); h.File(t, "var/lib/banger") }, true, doctor.StatusFail, "exists and is not a directory", "state_dir"},
		{"parent is a file", func(t *testing.T, h *doctortest.Host) { h.Remove(t, "var/lib"); h.File(t, "var/lib") }, true, doctor.StatusFail, "is not a directory", "move"},
		{"world-writable", func(t *testing.T, h *doctortest.Host) {
			if err := os.Chmod(h.Path("var/lib/banger"), 0o777); err != nil {
				t.Fatal(err)
			}
		}, true, doctor.StatusFail, "is world-writable (mode 0777)", "chmod o-w"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			tt.setup(t, h)
			in := h.Inputs(testRegistry())
			in.Writable = func(string) bool { return tt.writable }
			r := doctor.Run(context.Background(), in)
			c := doctortest.MustFind(t, r, "state dir")
			if c.Status != tt.want || !strings.Contains(c.Detail, tt.wantDetail) || !strings.Contains(c.Fix, tt.wantFix) {
				t.Errorf("state dir = %s %q fix %q; want %s containing %q, fix containing %q", c.Status, c.Detail, c.Fix, tt.want, tt.wantDetail, tt.wantFix)
			}
			if r.Failed() != (tt.want == doctor.StatusFail) {
				t.Errorf("Failed() = %v", r.Failed())
			}
		})
	}
}

func TestTunAndBridge(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(t *testing.T, h *doctortest.Host)
		check     string
		want      doctor.Status
		wantFix   string
		wantFail  bool
		wantInDet string
	}{
		{"tun device missing, module loaded", func(t *testing.T, h *doctortest.Host) { h.Remove(t, "dev/net/tun") }, "tun", doctor.StatusFail, "mknod /dev/net/tun c 10 200", true, "tun driver is loaded"},
		{"tun missing entirely", func(t *testing.T, h *doctortest.Host) { h.Remove(t, "dev/net/tun"); h.Remove(t, "sys/module/tun") }, "tun", doctor.StatusFail, "modprobe tun", true, "not loaded"},
		{"bridge autoloadable", func(t *testing.T, h *doctortest.Host) {
			h.Remove(t, "sys/module/bridge")
			h.Cmds["/usr/bin/modinfo bridge"] = doctortest.Result{Out: "filename: bridge.ko\n"}
		}, "bridge", doctor.StatusWarn, "modprobe bridge", false, "autoloads"},
		{"bridge unknown to modinfo", func(t *testing.T, h *doctortest.Host) {
			h.Remove(t, "sys/module/bridge")
			h.Cmds["/usr/bin/modinfo bridge"] = doctortest.Result{Err: errors.New("exit status 1")}
		}, "bridge", doctor.StatusWarn, "linux-image-amd64", false, "modinfo cannot find it"},
		{"bridge loaded via procfs", func(t *testing.T, h *doctortest.Host) {
			h.Remove(t, "sys/module/bridge")
			h.Mkdir(t, "proc/sys/net/bridge")
		}, "bridge", doctor.StatusOK, "", false, "bridge module loaded"},
		{"bridge already up", func(t *testing.T, h *doctortest.Host) { h.Mkdir(t, "sys/class/net/banger0/bridge") }, "bridge", doctor.StatusOK, "", false, "bridge banger0 exists"},
		{"bridge name taken by non-bridge", func(t *testing.T, h *doctortest.Host) { h.Mkdir(t, "sys/class/net/banger0") }, "bridge", doctor.StatusFail, "ip link delete banger0", true, "is not a bridge"},
		{"vsock module without device", func(t *testing.T, h *doctortest.Host) {
			h.Remove(t, "dev/vhost-vsock")
			h.Mkdir(t, "sys/module/vhost_vsock")
		}, "vsock", doctor.StatusWarn, "--device /dev/vhost-vsock", false, "not used yet"},
		{"vsock absent", func(t *testing.T, h *doctortest.Host) { h.Remove(t, "dev/vhost-vsock") }, "vsock", doctor.StatusInfo, "", false, "modprobe vhost_vsock"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			tt.setup(t, h)
			r := doctor.Run(context.Background(), h.Inputs(testRegistry()))
			c := doctortest.MustFind(t, r, tt.check)
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
			h := newHost(t)
			delete(h.Bins, tt.bin)
			r := doctor.Run(context.Background(), h.Inputs(testRegistry()))
			c := doctortest.MustFind(t, r, tt.bin)
			want := doctor.StatusWarn
			if tt.hard {
				want = doctor.StatusFail
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
	h := newHost(t)
	h.UID = 1000
	r := doctor.Run(context.Background(), h.Inputs(testRegistry()))
	c := doctortest.MustFind(t, r, "root")
	if c.Status != doctor.StatusFail || !r.Failed() || !strings.Contains(c.Detail, "uid 1000") {
		t.Errorf("root = %s %q, Failed=%v; want hard fail naming the uid", c.Status, c.Detail, r.Failed())
	}
}

func TestWrite(t *testing.T) {
	r := doctor.Report{Checks: []doctor.Check{
		{Name: "root", Status: doctor.StatusOK, Detail: "running as root", Hard: true},
		{Name: "vmmd", Status: doctor.StatusFail, Detail: "vmmd not found on PATH", Fix: "apt-get install vmmd", Hard: true},
		{Name: "kvm guest", Status: doctor.StatusWarn, Detail: "KVM is present but cannot run a guest kernel here", Fix: "nothing is required"},
		{Name: "accel", Status: doctor.StatusInfo, Detail: "tcg", Fix: "not shown for info"},
	}}
	var b bytes.Buffer
	r.Write(&b)
	want := `[ ok ] root       running as root
[fail] vmmd       vmmd not found on PATH
                  fix: apt-get install vmmd
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
	h := newHost(t)
	delete(h.Bins, "debootstrap")
	h.Free = 5 * doctortest.GiB
	var b bytes.Buffer
	doctor.Run(context.Background(), h.Inputs(testRegistry())).Write(&b)
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

// testRegistry has two made-up backends: "swift" (rank 20) is available
// when the program swiftvm is installed; "steady" (rank 10) always is.
// Each contributes one check, hard when it is the chosen backend.
func testRegistry() *vmm.Registry {
	check := func(name string) func(context.Context, vmm.Env, vmm.Role) []vmm.Check {
		return func(_ context.Context, env vmm.Env, role vmm.Role) []vmm.Check {
			c := vmm.Check{Name: name, Status: vmm.CheckOK, Detail: "fine", Hard: role.Chosen}
			if _, err := env.Host.LookPath(name + "vm"); err != nil {
				c.Status, c.Detail = vmm.CheckWarn, name+"vm not installed"
				if role.Chosen {
					c.Status = vmm.CheckFail
				}
			}
			return []vmm.Check{c}
		}
	}
	newVMM := func(vmm.Env) (vmm.VMM, error) { return nil, errors.New("not for running") }
	r, err := vmm.NewRegistry(
		vmm.Backend{Name: "steady", Rank: 10, New: newVMM, Doctor: check("steady")},
		vmm.Backend{Name: "swift", Rank: 20, New: newVMM, Doctor: check("swift"),
			Available: func(_ context.Context, env vmm.Env) error {
				if _, err := env.Host.LookPath("swiftvm"); err != nil {
					return errors.New("swift is not installed")
				}
				return nil
			}},
	)
	if err != nil {
		panic(err)
	}
	return r
}

func newHost(t *testing.T) *doctortest.Host {
	h := doctortest.New(t)
	h.Bins["steadyvm"] = "/usr/bin/steadyvm"
	return h
}

func TestAllGoodHost(t *testing.T) {
	h := newHost(t)
	r := doctor.Run(context.Background(), h.Inputs(testRegistry()))
	if r.Failed() {
		t.Fatalf("healthy host failed:\n%s", doctortest.Dump(r))
	}
	want := map[string]string{
		"vmm":         "steady (vmm=auto: swift is not installed)",
		"steady":      "fine",
		"swift":       "swiftvm not installed",
		"bridge":      "bridge module loaded; bangerd creates bridge banger0 on start",
		"disk":        "100.0 GiB free on the file system holding " + h.Path("var/lib/banger"),
		"state dir":   h.Path("var/lib/banger") + " (mode 0755)",
		"runtime dir": h.Path("run/banger") + " does not exist yet; bangerd creates it (" + h.Path("run") + " is writable)",
	}
	for name, detail := range want {
		if got := doctortest.MustFind(t, r, name).Detail; got != detail {
			t.Errorf("%s detail = %q, want %q", name, got, detail)
		}
	}
	for _, name := range []string{"root", "debootstrap", "mkfs.ext4", "debugfs", "ssh", "ip", "nft", "tun", "vsock"} {
		if c := doctortest.MustFind(t, r, name); c.Status != doctor.StatusOK {
			t.Errorf("%s = %s (%s), want ok", name, c.Status, c.Detail)
		}
	}
	if r.VMM != "steady" {
		t.Errorf("VMM = %q, want steady", r.VMM)
	}
}

func TestVMMChoice(t *testing.T) {
	tests := []struct {
		name       string
		vmm        string
		swift      bool
		wantDetail string
		wantVMM    string
		wantFailed bool
	}{
		{"auto picks the higher rank", "auto", true, "swift (vmm=auto: the highest-ranked backend, and available)", "swift", false},
		{"auto skips the unavailable", "auto", false, "steady (vmm=auto: swift is not installed)", "steady", false},
		{"named", "steady", true, "steady (set by config vmm=steady)", "steady", false},
		{"named but missing: its own check fails", "swift", false, "swift (set by config vmm=swift)", "swift", true},
		{"unknown", "xen", true, `unknown vmm "xen" in the config`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHost(t)
			if tt.swift {
				h.Bins["swiftvm"] = "/usr/bin/swiftvm"
			}
			in := h.Inputs(testRegistry())
			in.VMM = tt.vmm
			r := doctor.Run(context.Background(), in)
			c := doctortest.MustFind(t, r, "vmm")
			if c.Detail != tt.wantDetail || r.VMM != tt.wantVMM || r.Failed() != tt.wantFailed {
				t.Errorf("vmm = %q, chosen %q, failed %v; want %q, %q, %v", c.Detail, r.VMM, r.Failed(), tt.wantDetail, tt.wantVMM, tt.wantFailed)
			}
			if tt.vmm == "xen" && c.Fix != `set vmm to one of "auto", "steady", "swift" in the banger config` {
				t.Errorf("fix = %q", c.Fix)
			}
		})
	}
}

func TestBackendWithoutChecksHasItsToolsChecked(t *testing.T) {
	reg := testRegistry()
	err := reg.Register(vmm.Backend{Name: "plain", Rank: 100,
		New: func(vmm.Env) (vmm.VMM, error) { return nil, errors.New("not for running") },
		Tools: func(vmm.Settings) []hosttools.Tool {
			return []hosttools.Tool{{Name: "plainvm", Package: "plain-vmm"}, {Name: "plainctl"}}
		}})
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t)
	h.Bins["plainctl"] = "/usr/bin/plainctl"
	r := doctor.Run(context.Background(), h.Inputs(reg))
	c := doctortest.MustFind(t, r, "plainvm")
	if c.Status != doctor.StatusFail || !c.Hard || c.Fix != "apt-get install plain-vmm" || c.Detail != "not found on PATH (run by the plain backend)" {
		t.Errorf("plainvm = %+v, want a hard failure naming its package", c)
	}
	if c := doctortest.MustFind(t, r, "plainctl"); c.Status != doctor.StatusOK {
		t.Errorf("plainctl = %+v", c)
	}
}
