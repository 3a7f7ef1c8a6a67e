// Package e2e holds the end-to-end tests: they build the banger binaries (or
// use BANGER_BIN_DIR), run bangerd inside a network namespace the test
// creates, and boot real VMs under QEMU (KVM where it can run guests, TCG
// otherwise).
//
// Host needs: root (namespaces, bridges, taps), qemu-system-x86_64,
// debootstrap and e2fsprogs (`make deps`), and the Debian archive for the
// first image build. The image is cached between runs under
// BANGER_E2E_CACHE (default /var/cache/banger-e2e).
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"banger/internal/poll"
)

// env is one test's banger installation: its own config, state and
// runtime directories, and a network namespace.
type env struct {
	t       *testing.T
	bin     string
	cfgPath string
	state   string
	runtime string
	netns   string
	daemon  *exec.Cmd
}

func requireHost(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping end-to-end test in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("end-to-end tests need root (network namespaces, bridges, taps); run `sudo make test`")
	}
	for _, tool := range []string{"qemu-system-x86_64", "qemu-img", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("end-to-end tests need %s (run `make deps`): %v", tool, err)
		}
	}
}

func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// binaries returns the directory holding banger, bangerd, banger-agent,
// banger-controller and banger-node.
func binaries(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("BANGER_BIN_DIR"); d != "" {
		return d
	}
	dir := t.TempDir()
	root := repoRoot(t)
	for _, b := range []struct{ name, pkg string }{{"banger", "./cmd/banger"}, {"bangerd", "./cmd/bangerd"}, {"banger-agent", "./cmd/banger-agent"},
		{"banger-controller", "./cmd/banger-controller"}, {"banger-node", "./cmd/banger-node"}} {
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, b.name), b.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", b.name, err, out)
		}
	}
	return dir
}

func cacheDir() string {
	if d := os.Getenv("BANGER_E2E_CACHE"); d != "" {
		return d
	}
	return "/var/cache/banger-e2e"
}

// newEnv prepares the config, makes sure the default image is built and
// current, creates the namespace and starts bangerd inside it.
// removeStale removes what an earlier run that crashed left: its daemons
// and namespaces (named bge2e-*-<pid> for another pid).
func removeStale(t *testing.T) {
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "bge2e-") || strings.HasSuffix(f[0], fmt.Sprintf("-%d", os.Getpid())) {
			continue
		}
		if runAlive(f[0]) {
			continue // another run of the tests, going on now
		}
		t.Logf("removing namespace %s left by an earlier run", f[0])
		if pids, err := exec.Command("ip", "netns", "pids", f[0]).Output(); err == nil {
			for _, pid := range strings.Fields(string(pids)) {
				if n, err := strconv.Atoi(pid); err == nil {
					_ = syscall.Kill(n, syscall.SIGKILL)
				}
			}
		}
		_ = exec.Command("ip", "netns", "del", f[0]).Run()
	}
}

// runAlive reports whether the test process named by a namespace's
// -<pid> suffix is still running.
func runAlive(netns string) bool {
	pid, err := strconv.Atoi(netns[strings.LastIndex(netns, "-")+1:])
	return err == nil && syscall.Kill(pid, 0) == nil
}

var staleOnce sync.Once

func newEnv(t *testing.T, name string, extra ...func(e *env) string) *env {
	t.Helper()
	return newEnvAt(t, name, "", extra...)
}

// newEnvAt is newEnv with a state directory of its own (state; empty: the
// cached one), for a test that runs a second daemon beside the first. A
// state of its own starts empty: its default image is registered from the
// cached state's files (copied), and its VMs boot cold.
func newEnvAt(t *testing.T, name, state string, extra ...func(e *env) string) *env {
	t.Helper()
	requireHost(t)
	staleOnce.Do(func() { removeStale(t) })
	cached := filepath.Join(cacheDir(), "state")
	e := &env{t: t, bin: binaries(t), state: cached}
	if state != "" {
		e.state = state
	}
	rt, err := os.MkdirTemp("", "banger-e2e-run-")
	if err != nil {
		t.Fatal(err)
	}
	e.runtime = rt
	t.Cleanup(func() { os.RemoveAll(rt) })
	e.netns = fmt.Sprintf("bge2e-%s-%d", name, os.Getpid())
	e.cfgPath = filepath.Join(rt, "config.toml")
	synced := filepath.Join(rt, "synced.txt")
	if err := os.WriteFile(synced, []byte("synced from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	top := fmt.Sprintf("state_dir = %q\nruntime_dir = %q\nbridge_name = \"br-bge2e\"\ncidr = \"172.31.77.0/24\"\n"+
		"log_level = \"debug\"\nstop_timeout = \"20s\"\n"+
		// No background template boots: one VM at a time, and no stray tap
		// (newEnv makes the default image's template up front).
		"auto_warm = false\n", e.state, filepath.Join(rt, "run"))
	tables := fmt.Sprintf("[vm_defaults]\nvcpu = 1\nmemory_mib = 768\ndisk_size = \"2G\"\n"+
		"[[file_sync]]\nhost = %q\nguest = \"/root/synced/hello.txt\"\nmode = \"0600\"\n", synced)
	cfg := top + tables
	if err := os.WriteFile(e.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if e.state == cached {
		e.ensureImage()
	}

	if out, err := exec.Command("ip", "netns", "add", e.netns).CombinedOutput(); err != nil {
		t.Fatalf("create netns: %v: %s", err, out)
	}
	t.Cleanup(func() {
		e.stopDaemon()
		_ = exec.Command("ip", "netns", "del", e.netns).Run()
	})
	if out, err := exec.Command("ip", "-n", e.netns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v: %s", err, out)
	}
	// Top-level config lines that need the namespace (e.g. the URL of a
	// server inside it).
	for _, f := range extra {
		top += f(e)
	}
	if err := os.WriteFile(e.cfgPath, []byte(top+tables), 0o600); err != nil {
		t.Fatal(err)
	}
	e.startDaemon()
	e.removeLeftoverVMs()
	if e.state == cached {
		e.ensureTemplate()
	} else {
		e.registerImage(cached)
	}
	return e
}

// registerImage registers the default image of the state directory from
// (built by newEnv) in e's daemon, unless it has it already.
func (e *env) registerImage(from string) {
	if _, code := e.banger(context.Background(), true, "image", "show", "debian-bookworm"); code == 0 {
		return
	}
	kdir := filepath.Join(from, "kernels", "debian-bookworm")
	e.ok("image", "register", "--name", "debian-bookworm",
		"--rootfs", filepath.Join(from, "images", "debian-bookworm", "rootfs.ext4"),
		"--kernel", filepath.Join(kdir, "vmlinuz"), "--initrd", filepath.Join(kdir, "initrd.img"))
}

// ensureTemplate makes sure the default image has a snapshot for the
// default shape, so that the tests' VMs start warm where they do not test
// cold boots (a VM created with another image, shape or --root-size, and
// every later start, boots cold). The template lives in the cached state
// and is made once per image; with the template there this costs one
// key check.
func (e *env) ensureTemplate() {
	if out, code := e.banger(context.Background(), true, "image", "warm", "debian-bookworm"); code != 0 {
		e.t.Fatalf("image warm failed (exit %d):\n%s", code, out)
	}
}

// ensureImage builds the default image with a daemon in the host's
// namespace (debootstrap needs the Debian archive; no VM boots here), unless
// the cached one was built from the same agent and recipe.
func (e *env) ensureImage() {
	t := e.t
	stamp := e.recipeStamp()
	stampPath := filepath.Join(cacheDir(), "image.stamp")
	if old, err := os.ReadFile(stampPath); err == nil && string(old) == stamp {
		if _, err := os.Stat(filepath.Join(e.state, "images", "debian-bookworm", "rootfs.ext4")); err == nil {
			t.Logf("reusing cached image (stamp %s)", stamp[:12])
			return
		}
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Skipf("building the default image needs debootstrap (run `make deps`): %v", err)
	}
	// Start over, keeping only the package cache.
	for _, d := range []string{"banger.db", "banger.db-wal", "banger.db-shm", "images", "kernels", "vms", "ssh", "tmp", "templates"} {
		os.RemoveAll(filepath.Join(e.state, d))
	}
	start := time.Now()
	out, code := e.banger(context.Background(), false, "image", "build", "debian-bookworm")
	e.bangerHost("daemon", "stop")
	if code != 0 {
		t.Fatalf("image build failed (exit %d):\n%s", code, out)
	}
	t.Logf("built the default image in %s", time.Since(start).Round(time.Second))
	if err := os.WriteFile(stampPath, []byte(stamp), 0o644); err != nil {
		t.Fatal(err)
	}
}

// recipeStamp hashes what the image is made of: the sources of the guest
// agent and of the golden image builder (not the agent binary, whose
// embedded version changes with every commit).
func (e *env) recipeStamp() string {
	h := sha256.New()
	root := repoRoot(e.t)
	for _, dir := range recipeDirs(e.t, root) {
		_ = filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			if err == nil {
				rel, _ := filepath.Rel(root, p) // the same in any clone
				h.Write([]byte(rel))
				h.Write(b)
			}
			return err
		})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// recipeDirs are the source dirs an image build depends on: every banger
// package the agent is built from (it is installed in the image and is
// its initramfs), the image builder and the rootfs customisation.
func recipeDirs(t *testing.T, root string) []string {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "./cmd/banger-agent")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list the agent's packages: %v", err)
	}
	dirs := []string{"internal/image/golden", "internal/rootfs"}
	for _, p := range strings.Fields(string(out)) {
		if rel, ok := strings.CutPrefix(p, "banger/"); ok {
			dirs = append(dirs, rel)
		}
	}
	return dirs
}

func (e *env) bangerHost(args ...string) {
	cmd := exec.Command(filepath.Join(e.bin, "banger"), append([]string{"--config", e.cfgPath}, args...)...)
	_ = cmd.Run()
}

func (e *env) startDaemon() {
	t := e.t
	logf, err := os.Create(filepath.Join(e.runtime, "bangerd.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", e.netns, filepath.Join(e.bin, "bangerd"), "--config", e.cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.daemon = cmd
	waitFor(t, 15*time.Second, "bangerd up (daemon status exits 0)", func() (bool, string) {
		_, code := e.banger(context.Background(), false, "daemon", "status")
		return code == 0, e.daemonLog()
	})
}

// waitFor calls check every 200ms until it reports done, and fails the test
// once timeout has passed, with what it waited for and what the last check
// saw.
func waitFor(t *testing.T, timeout time.Duration, what string, check func() (done bool, seen string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var seen string
	err := poll.Until(ctx, 200*time.Millisecond, nil, func(context.Context) (bool, error) {
		var done bool
		done, seen = check()
		return done, nil
	})
	if err != nil {
		t.Fatalf("waited %v for %s; last seen:\n%s", timeout, what, seen)
	}
}

func (e *env) stopDaemon() {
	if e.daemon == nil {
		return
	}
	_ = e.daemon.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = e.daemon.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-e.daemon.Process.Pid, syscall.SIGKILL)
		<-done
	}
	e.daemon = nil
}

func (e *env) daemonLog() string {
	b, _ := os.ReadFile(filepath.Join(e.state, "bangerd.log"))
	out, _ := os.ReadFile(filepath.Join(e.runtime, "bangerd.out"))
	return lastLines(string(b), 60) + "\nbangerd.out:\n" + lastLines(string(out), 60)
}

// banger runs the CLI inside the namespace (netns=true) or outside it and
// returns its combined output and exit code.
func (e *env) banger(ctx context.Context, netns bool, args ...string) (string, int) {
	argv := append([]string{filepath.Join(e.bin, "banger"), "--config", e.cfgPath}, args...)
	if netns {
		argv = append([]string{"ip", "netns", "exec", e.netns}, argv...)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.Stdin = strings.NewReader("")
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return buf.String(), ee.ExitCode()
	}
	if err != nil {
		e.t.Fatalf("run banger %v: %v", args, err)
	}
	return buf.String(), 0
}

// ok runs the CLI in the namespace and fails the test on a non-zero exit.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	out, code := e.banger(context.Background(), true, args...)
	if code != 0 {
		e.t.Fatalf("banger %s: exit %d\n%s\ndaemon log:\n%s", strings.Join(args, " "), code, out, e.daemonLog())
	}
	return out
}

type vmJSON struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	State string `json:"state"`
	PID   int    `json:"pid"`
	Tap   string `json:"tap"`
	IP    string `json:"ip"`
	MAC   string `json:"mac"`
	NAT   bool   `json:"nat"`
}

func (e *env) list() []vmJSON {
	out, code := e.banger(context.Background(), true, "vm", "list", "--json")
	if code != 0 {
		e.t.Fatalf("vm list: %s", out)
	}
	var vms []vmJSON
	if err := json.Unmarshal([]byte(out), &vms); err != nil {
		e.t.Fatalf("vm list --json: %v\n%s", err, out)
	}
	return vms
}

func (e *env) removeLeftoverVMs() {
	for _, v := range e.list() {
		e.t.Logf("removing VM %s left by an earlier run", v.Name)
		e.ok("vm", "delete", v.Name)
	}
	var imgs []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal([]byte(e.ok("image", "list", "--json")), &imgs); err != nil {
		e.t.Fatal(err)
	}
	for _, img := range imgs {
		if img.Name != "debian-bookworm" {
			e.t.Logf("removing image %s left by an earlier run", img.Name)
			e.ok("image", "delete", img.Name)
		}
	}
}

// assertNoTrace checks that nothing of any VM remains: no tap in the
// namespace, no VMM process, no VM files.
func (e *env) assertNoTrace(ids ...string) {
	t := e.t
	t.Helper()
	out, err := exec.Command("ip", "-n", e.netns, "-o", "link", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("list links: %v", err)
	}
	if strings.Contains(string(out), "bgtap-") {
		t.Errorf("a tap remains in the namespace:\n%s", out)
	}
	for _, id := range ids {
		procs, _ := exec.Command("pgrep", "-f", "banger-"+id).CombinedOutput()
		if strings.TrimSpace(string(procs)) != "" {
			t.Errorf("a VMM process of %s remains: pids %s", id, procs)
		}
		for _, p := range []string{filepath.Join(e.state, "vms", id), filepath.Join(e.runtime, "run", "vms", id)} {
			if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s remains (stat err %v)", p, err)
			}
		}
		kh, _ := os.ReadFile(filepath.Join(e.state, "ssh", "known_hosts"))
		if strings.Contains(string(kh), "banger-"+id) {
			t.Errorf("known_hosts still pins a key for %s", id)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(e.state, "vms")); len(entries) != 0 {
		var names []string
		for _, en := range entries {
			names = append(names, en.Name())
		}
		t.Errorf("VM directories remain: %v", names)
	}
}

// nftRules lists banger's nftables table in the test's namespace.
func (e *env) nftRules() string {
	out, _ := exec.Command("ip", "netns", "exec", e.netns, "nft", "list", "table", "ip", "banger").CombinedOutput()
	return string(out)
}

// idFromLog finds the id of the VM named name in the daemon log.
func (e *env) idFromLog(name string) string {
	// The log is shared by every run of the tests: the newest VM of the
	// name is this run's.
	b, _ := os.ReadFile(filepath.Join(e.state, "bangerd.log"))
	lines := strings.Split(string(b), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := lines[i]
		if strings.Contains(line, "msg=\"vm created\"") && strings.Contains(line, "vm="+name+" ") {
			for _, f := range strings.Fields(line) {
				if strings.HasPrefix(f, "id=") {
					return strings.TrimPrefix(f, "id=")
				}
			}
		}
	}
	return ""
}
