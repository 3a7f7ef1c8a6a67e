package qemu

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"banger/internal/vmm"
)

// flagValue is the value after the last flag in argv, "" when absent.
func flagValue(argv []string, flag string) string {
	v := pairs(argv, flag)
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// TestArgvConfinesQEMU: the full command line of a VM's QEMU carries the
// seccomp sandbox, and -runas with the VM's own uid when the daemon is
// root; the VM's tap belongs to that uid.
func TestArgvConfinesQEMU(t *testing.T) {
	const base = 2_000_000
	vm := snapConfig("vm1") // guest CID 7
	tpl := vm
	tpl.GuestCID = 0 // a template's config
	for _, tc := range []struct {
		name              string
		runAs             bool
		cfg               vmm.Config
		wantUID           int
		wantSandbox       string
		wantRunAs         string
		wantSandboxOption string
	}{
		{"root daemon: a uid of its own", true, vm, base + 7, SandboxRunAs, "2000007:2000007", "elevateprivileges=allow"},
		{"root daemon: a template runs as the base uid", true, tpl, base, SandboxRunAs, "2000000:2000000", "elevateprivileges=allow"},
		{"unprivileged daemon: nothing to drop", false, vm, 0, Sandbox, "", "elevateprivileges=deny"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := New(Options{Accel: "tcg", UIDBase: base})
			q.jail.runAs = tc.runAs
			argv := q.argv(tc.cfg, RestoreArgs(tc.cfg, "/tpl"))
			if argv[0] != DefaultBinary || !slices.Equal(argv[1:1+len(Args(tc.cfg, "tcg"))], Args(tc.cfg, "tcg")) {
				t.Fatalf("argv does not start with the binary and Args: %q", argv)
			}
			if got := flagValue(argv, "-sandbox"); got != tc.wantSandbox {
				t.Errorf("-sandbox %q, want %q", got, tc.wantSandbox)
			}
			for _, opt := range []string{"on", "obsolete=deny", "spawn=deny", "resourcecontrol=deny", tc.wantSandboxOption} {
				if !slices.Contains(strings.Split(flagValue(argv, "-sandbox"), ","), opt) {
					t.Errorf("-sandbox %q lacks %s", flagValue(argv, "-sandbox"), opt)
				}
			}
			if got := flagValue(argv, "-runas"); got != tc.wantRunAs {
				t.Errorf("-runas %q, want %q", got, tc.wantRunAs)
			}
			if !slices.Contains(argv, "-incoming") {
				t.Errorf("the restore's own arguments were lost: %q", argv)
			}
			if got := q.TapOwner(tc.cfg); got != tc.wantUID {
				t.Errorf("TapOwner = %d, want %d", got, tc.wantUID)
			}
		})
	}
}

// TestJailStaysOutOfTheSnapshotKey: a template and its clones run as
// different uids, so the uid must not be part of what a clone must share.
func TestJailStaysOutOfTheSnapshotKey(t *testing.T) {
	a, b := snapConfig("vm1"), snapConfig("vm2")
	b.GuestCID = 9
	if snapshotKey("q", "7.2", "tcg", 0, a) != snapshotKey("q", "7.2", "tcg", 0, b) {
		t.Fatal("two VMs that differ only in their CID (their uid) have different snapshot keys")
	}
}

func TestAcceleratedTapOwner(t *testing.T) {
	env := vmm.Env{Settings: vmm.Settings{BinaryKey: DefaultBinary, AccelKey: "tcg", vmm.UIDBaseKey: "3000000"}}
	a := NewAccelerated(env)
	cfg := snapConfig("vm1")
	want := 0
	if os.Geteuid() == 0 {
		want = 3000007
	}
	if got := a.TapOwner(cfg); got != want {
		t.Fatalf("TapOwner = %d, want %d (euid %d)", got, want, os.Geteuid())
	}
}

func TestValidateUIDBase(t *testing.T) {
	for _, tc := range []struct {
		v  string
		ok bool
	}{
		{"", true}, {"900000000", true}, {"65536", true}, {strconv.Itoa(1<<32 - 2 - 1<<20), true},
		{"0", false}, {"1000", false}, {"-5", false}, {"4294967295", false}, {"9e8", false},
	} {
		s := vmm.Settings{AccelKey: "auto", BinaryKey: DefaultBinary, vmm.UIDBaseKey: tc.v}
		if errs := validateSettings(s); (len(errs) == 0) != tc.ok {
			t.Errorf("%s = %q: errors %v, want ok=%v", vmm.UIDBaseKey, tc.v, errs, tc.ok)
		}
	}
}

// TestRestrictLeavesTheVMsFilesToRoot: the writable disks, the console log
// and the runtime dir are root's alone before QEMU opens them; a
// template's read-only disk is left as it is.
func TestRestrictLeavesTheVMsFilesToRoot(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	os.Mkdir(run, 0o755)
	cfg := vmm.Config{Dir: run, ConsoleLog: filepath.Join(dir, "console.log"), Disks: []vmm.Disk{
		{Path: filepath.Join(dir, "root.qcow2")}, {Path: filepath.Join(dir, "base.qcow2"), ReadOnly: true},
	}}
	for _, p := range []string{cfg.ConsoleLog, cfg.Disks[0].Path, cfg.Disks[1].Path} {
		writeFile(t, p, "x")
		os.Chmod(p, 0o644)
	}
	if err := restrict(cfg); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{run: 0o700, cfg.ConsoleLog: 0o600, cfg.Disks[0].Path: 0o600, cfg.Disks[1].Path: 0o644} {
		if fi, _ := os.Stat(p); fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode().Perm(), want)
		}
	}
}

// checkConfined checks, from /proc, that the QEMU at pid runs as uid (all
// four of its uids and gids) when the test is root, with no capabilities,
// no_new_privs and a seccomp filter.
func checkConfined(t *testing.T, pid int, cfg vmm.Config) {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Seccomp:": "2", "NoNewPrivs:": "1"}
	if os.Geteuid() == 0 {
		id := strconv.Itoa(vmm.GuestUID(vmm.DefaultUIDBase, cfg))
		want["Uid:"] = strings.Repeat(id+" ", 4)
		want["Gid:"] = strings.Repeat(id+" ", 4)
		want["Groups:"] = id
		want["CapEff:"] = "0000000000000000"
		want["CapPrm:"] = "0000000000000000"
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if w, ok := want[f[0]]; ok {
			if got := strings.Join(f[1:], " "); got != strings.TrimSpace(w) {
				t.Errorf("qemu pid %d: %s %q, want %q", pid, f[0], got, strings.TrimSpace(w))
			}
			delete(want, f[0])
		}
	}
	for k := range want {
		t.Errorf("qemu pid %d: no %s line in its status", pid, k)
	}
}
