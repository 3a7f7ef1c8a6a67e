package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"banger/internal/crashpoint"
)

// TestCrashAtEveryStep is the crash-injection suite (issue 8, item 13).
// For every step of create, start, stop, delete and image pull that
// bangerd can crash at (BANGER_CRASH_AT, see internal/crashpoint), it
// makes bangerd kill itself there, starts it again, counts what leaked
// (taps, VMM processes, NAT rules, loop devices, files outside a live
// VM's or image's directory, rows naming missing files), and checks that
// the VM or image left can still be deleted, and the VM run. It also kills
// a `vm run --rm` client during the boot, which must leave no VM.
//
// It keeps to the cheapest work: its own state directory, a busybox-only
// image pulled from an OCI layout built here with the cached e2e image's
// kernel, VMs made with --no-start, and running VMs made by a crash at
// start.handles (the daemon adopts the VMM it started) rather than a
// boot. One VM boots in full, at the end. build.placed (after debootstrap)
// is covered by the unit tests only.
func TestCrashAtEveryStep(t *testing.T) {
	e := newCrashEnv(t)
	steps, leaks := 0, 0
	for _, c := range crashCases() {
		steps++
		t.Logf("step %s", c.step)
		if c.running {
			e.runningVM(c.vm)
		} else if c.vm != "" {
			e.ok("vm", "create", "--no-start", "--image", "bb", "--nat", "--name", c.vm)
		}
		e.crashDuring(c.step, c.act(e)...)
		l := e.leaks()
		leaks += len(l)
		for _, s := range l {
			t.Errorf("after a crash at %s and a restart: leaked %s", c.step, s)
		}
		c.after(e)
		if l := e.leaks(); len(l) > 0 {
			t.Errorf("after a crash at %s, once its VM or image was deleted: leaked %v", c.step, l)
		}
	}
	e.rmClientKilledDuringBoot()
	if l := e.leaks(); len(l) > 0 {
		leaks += len(l)
		t.Errorf("after a `vm run --rm` client was killed during the boot: leaked %v", l)
	}
	out := e.ok("vm", "run", "--rm", "--image", "bb", "--name", "last", "--", "cat", "/etc/os-release")
	if !strings.Contains(out, "ID=busybox") {
		t.Errorf("a VM after the crashes did not run its command:\n%s", out)
	}
	log, _ := os.ReadFile(filepath.Join(e.state, "bangerd.log"))
	var accels []string
	for _, m := range regexp.MustCompile(`msg="qemu started".* accel=(\w+)`).FindAllStringSubmatch(string(log), -1) {
		accels = append(accels, m[1])
	}
	t.Logf("crash-injection figures: %d steps crashed, %d leaks; VMM starts (accelerator): %v", steps, leaks, accels)
}

type crashCase struct {
	step    string
	vm      string // made before the crash: --no-start, or running
	running bool
	act     func(e *crashEnv) []string // the CLI command bangerd dies in
	after   func(e *crashEnv)
}

func crashCases() []crashCase {
	cmd := func(args ...string) func(*crashEnv) []string { return func(*crashEnv) []string { return args } }
	pull := func(e *crashEnv) []string {
		return []string{"image", "pull", e.layout, "--name", "bb2", "--kernel", "k"}
	}
	var cases []crashCase
	for _, s := range crashpoint.Steps() {
		c := crashCase{step: s, after: func(e *crashEnv) { e.deleteVMs() }}
		switch strings.Split(s, ".")[0] {
		case "create":
			c.act = cmd("vm", "create", "--no-start", "--image", "bb", "--nat", "--name", "c1")
		case "start":
			c.vm, c.act = "s1", cmd("vm", "start", "s1")
		case "stop": // kill: the same halt, without a graceful wait
			c.vm, c.running, c.act = "s1", true, cmd("vm", "kill", "s1")
		case "delete":
			c.vm, c.running, c.act = "s1", true, cmd("vm", "delete", "s1")
		case "image":
			c.act = pull
			c.after = func(e *crashEnv) {
				e.ok(pull(e)...)
				e.ok("image", "delete", "bb2")
			}
		default:
			continue // build.placed: a debootstrap build; see the unit tests
		}
		cases = append(cases, c)
	}
	return cases
}

// crashEnv is an env with a state of its own (not the shared cached one),
// so that everything in it is the suite's to count.
type crashEnv struct {
	*env
	layout string // OCI layout of the busybox image
}

func newCrashEnv(t *testing.T) *crashEnv {
	requireHost(t)
	staleOnce.Do(func() { removeStale(t) })
	kernel := crashKernel(t)
	layer := filepath.Join(t.TempDir(), "busybox.tar.gz")
	writeLayer(t, busyboxTree(t), layer)
	e := &crashEnv{env: &env{t: t, bin: binaries(t)}, layout: ociLayout(t, "busybox", layer)}
	root := t.TempDir()
	e.state, e.runtime = filepath.Join(root, "state"), filepath.Join(root, "rt")
	if err := os.MkdirAll(e.runtime, 0o700); err != nil {
		t.Fatal(err)
	}
	e.netns = fmt.Sprintf("bge2e-crash-%d", os.Getpid())
	e.cfgPath = filepath.Join(e.runtime, "config.toml")
	cfg := fmt.Sprintf("state_dir = %q\nruntime_dir = %q\nbridge_name = \"br-bgcrash\"\ncidr = \"172.31.78.0/24\"\n"+
		"log_level = \"debug\"\nstop_timeout = \"5s\"\nauto_warm = false\naccel = %q\n"+
		"[vm_defaults]\nvcpu = 1\nmemory_mib = 256\ndisk_size = \"128M\"\n", e.state, filepath.Join(e.runtime, "run"), accel())
	if err := os.WriteFile(e.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "netns", "add", e.netns).CombinedOutput(); err != nil {
		t.Fatalf("create netns: %v: %s", err, out)
	}
	t.Cleanup(func() {
		e.stopDaemon()
		// VMMs of this test's VMs (their argv names its private run dir).
		pids, _ := exec.Command("pgrep", "-f", filepath.Join(e.runtime, "run", "vms")+"/").Output()
		for _, p := range strings.Fields(string(pids)) {
			if pid, err := strconv.Atoi(p); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		_ = exec.Command("ip", "netns", "del", e.netns).Run()
	})
	if out, err := exec.Command("ip", "-n", e.netns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	e.startDaemon()
	e.ok("kernel", "import", "k", "--from", kernel)
	e.ok("image", "pull", e.layout, "--name", "bb", "--kernel", "k")
	return e
}

// crashKernel returns a directory holding a guest kernel (vmlinuz and
// initrd.img) for the suite's images: a copy, kept in the e2e cache, of
// the kernel of the e2e image (or of BANGER_E2E_KERNEL's), so that a
// rebuild of the shared image does not take it away mid-run.
func crashKernel(t *testing.T) string {
	t.Helper()
	own := filepath.Join(cacheDir(), "crash-kernel")
	for _, src := range []string{os.Getenv("BANGER_E2E_KERNEL"), filepath.Join(cacheDir(), "state", "kernels", "debian-bookworm")} {
		if src == "" {
			continue
		}
		tmp, err := os.MkdirTemp(cacheDir(), ".crash-kernel-")
		if err != nil {
			t.Fatal(err)
		}
		err = exec.Command("cp", filepath.Join(src, "vmlinuz"), filepath.Join(src, "initrd.img"), tmp).Run()
		if err == nil {
			_ = os.RemoveAll(own)
			err = os.Rename(tmp, own)
		}
		if err != nil {
			_ = os.RemoveAll(tmp)
			continue
		}
		break
	}
	if _, err := os.Stat(filepath.Join(own, "vmlinuz")); err != nil {
		t.Skipf("needs a guest kernel: the e2e image's (run another e2e test first) or BANGER_E2E_KERNEL=DIR (vmlinuz, initrd.img): %v", err)
	}
	return own
}

// accel is the QEMU accelerator of the suite: BANGER_E2E_ACCEL (kvm or
// tcg, to measure it as CI runs it), else auto.
func accel() string {
	if a := os.Getenv("BANGER_E2E_ACCEL"); a != "" {
		return a
	}
	return "auto"
}

// crashDuring restarts bangerd armed to crash at step, runs the CLI
// command args (which must fail: its daemon dies under it), waits for the
// daemon's death and starts it again, unarmed.
func (e *crashEnv) crashDuring(step string, args ...string) {
	t := e.t
	e.stopDaemon()
	e.startDaemonEnv(crashpoint.Env + "=" + step)
	out, code := e.banger(context.Background(), true, args...)
	if code == 0 {
		t.Fatalf("%s: banger %s succeeded; the daemon should have crashed:\n%s\ndaemon log:\n%s", step, strings.Join(args, " "), out, e.daemonLog())
	}
	done := make(chan error, 1)
	go func() { done <- e.daemon.Wait() }()
	select {
	case err := <-done:
		if ws, ok := e.daemon.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Errorf("%s: bangerd ended with %v, want killed by its crash hook", step, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: bangerd still runs after banger %s failed:\n%s", step, strings.Join(args, " "), out)
	}
	e.daemon = nil
	e.startDaemon()
}

func (e *crashEnv) startDaemonEnv(kv string) {
	old, had := os.LookupEnv(crashpoint.Env)
	k, v, _ := strings.Cut(kv, "=")
	os.Setenv(k, v)
	defer func() {
		if had {
			os.Setenv(crashpoint.Env, old)
		} else {
			os.Unsetenv(crashpoint.Env)
		}
	}()
	e.startDaemon()
}

// runningVM makes a running VM named name without waiting for its guest:
// a crash at start.handles leaves the VMM running with its handles
// written, and the restarted daemon adopts it.
func (e *crashEnv) runningVM(name string) {
	e.ok("vm", "create", "--no-start", "--image", "bb", "--nat", "--name", name)
	e.crashDuring(crashpoint.StartHandles, "vm", "start", name)
	for _, v := range e.list() {
		if v.Name == name && v.State == "running" {
			return
		}
	}
	e.t.Fatalf("VM %s was not adopted as running after a crash at %s:\n%v\n%s", name, crashpoint.StartHandles, e.list(), e.daemonLog())
}

func (e *crashEnv) deleteVMs() {
	for _, v := range e.list() {
		e.ok("vm", "delete", v.Name)
	}
}

// rmClientKilledDuringBoot kills a `vm run --rm` client while its VM
// boots; the daemon must delete the VM (before, it stayed as "created").
func (e *crashEnv) rmClientKilledDuringBoot() {
	t := e.t
	cmd := exec.Command("ip", "netns", "exec", e.netns, filepath.Join(e.bin, "banger"), "--config", e.cfgPath,
		"vm", "run", "--rm", "--image", "bb", "--name", "r1", "--", "true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the --rm VM to exist", func() (bool, string) {
		for _, v := range e.list() {
			if v.Name == "r1" {
				return true, ""
			}
		}
		return false, e.daemonLog()
	})
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	waitFor(t, time.Minute, "the --rm VM of a killed client to be deleted", func() (bool, string) {
		return len(e.list()) == 0, fmt.Sprint(e.list())
	})
}

func (e *crashEnv) listJSON(v any, args ...string) {
	out, code := e.banger(context.Background(), true, args...)
	if code != 0 {
		e.t.Fatalf("banger %s: %s", strings.Join(args, " "), out)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		e.t.Fatalf("banger %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

var natComment = regexp.MustCompile(`masquerade.*comment "banger vm ([0-9.]+)"`)

// leaks lists what no live VM, image or kernel accounts for.
func (e *crashEnv) leaks() []string {
	var out []string
	vms := e.list()
	taps, pids, nat, ids, running := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, v := range vms {
		ids[v.ID] = true
		if v.State == "running" {
			taps[v.Tap], pids[fmt.Sprint(v.PID)], running[v.ID], nat[v.IP] = true, true, true, v.NAT
		}
		if _, err := os.Stat(filepath.Join(e.state, "vms", v.ID, "work.ext4")); err != nil {
			out = append(out, fmt.Sprintf("row of VM %s names a missing work disk", v.Name))
		}
	}
	links, _ := exec.Command("ip", "-n", e.netns, "-o", "link", "show").Output()
	for _, f := range regexp.MustCompile(`bgtap-[0-9a-z]+`).FindAllString(string(links), -1) {
		if !taps[f] {
			out = append(out, "tap "+f)
		}
	}
	procs, _ := exec.Command("pgrep", "-f", filepath.Join(e.runtime, "run", "vms")+"/").Output()
	for _, pid := range strings.Fields(string(procs)) {
		if !pids[pid] {
			out = append(out, "VMM process "+pid)
		}
	}
	rules, _ := exec.Command("ip", "netns", "exec", e.netns, "nft", "list", "table", "ip", "banger").Output()
	for _, m := range natComment.FindAllStringSubmatch(string(rules), -1) {
		if !nat[m[1]] {
			out = append(out, "NAT rule for "+m[1])
		}
	}
	loops, _ := exec.Command("losetup", "-a").Output()
	for _, l := range strings.Split(string(loops), "\n") {
		if strings.Contains(l, e.state) {
			out = append(out, "loop device "+l)
		}
	}
	out = append(out, e.strayFiles(filepath.Join(e.state, "vms"), ids)...)
	out = append(out, e.strayFiles(filepath.Join(e.runtime, "run", "vms"), running)...)
	return append(out, e.imageLeaks()...)
}

// imageLeaks lists image and kernel dirs no row names, rows naming
// missing files, and scratch files.
func (e *crashEnv) imageLeaks() []string {
	var imgs []struct{ Rootfs string }
	var kernels []struct{ Path string }
	e.listJSON(&imgs, "image", "list", "--json")
	e.listJSON(&kernels, "kernel", "list", "--json")
	var out []string
	named := map[string]bool{}
	for _, f := range append(pathsOf(imgs, func(i struct{ Rootfs string }) string { return i.Rootfs }),
		pathsOf(kernels, func(k struct{ Path string }) string { return k.Path })...) {
		if _, err := os.Stat(f); err != nil {
			out = append(out, "a row names missing "+f)
		}
		named[filepath.Base(filepath.Dir(f))] = true
	}
	out = append(out, e.strayFiles(filepath.Join(e.state, "images"), named)...)
	out = append(out, e.strayFiles(filepath.Join(e.state, "kernels"), named)...)
	return append(out, e.strayFiles(filepath.Join(e.state, "tmp"), nil)...)
}

func pathsOf[T any](xs []T, f func(T) string) []string {
	var out []string
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

func (e *crashEnv) strayFiles(dir string, known map[string]bool) []string {
	var out []string
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		if !known[en.Name()] {
			out = append(out, "file "+filepath.Join(dir, en.Name()))
		}
	}
	return out
}
