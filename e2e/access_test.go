package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostUser is a real user of the host, made for one test.
type hostUser struct {
	name     string
	uid, gid int
	groups   []uint32
}

// addUser makes a user with no home and no login shell, in the given
// groups, and removes it when the test ends.
func addUser(t *testing.T, name string, groups ...string) hostUser {
	t.Helper()
	argv := []string{"useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "--user-group"}
	if len(groups) > 0 {
		argv = append(argv, "--groups", strings.Join(groups, ","))
	}
	if out, err := exec.Command(argv[0], append(argv[1:], name)...).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("userdel", name).Run() })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	h := hostUser{name: name}
	h.uid, _ = strconv.Atoi(u.Uid)
	h.gid, _ = strconv.Atoi(u.Gid)
	ids, _ := u.GroupIds()
	for _, id := range ids {
		g, _ := strconv.ParseUint(id, 10, 32)
		h.groups = append(h.groups, uint32(g))
	}
	return h
}

// accessEnv is a bangerd run by root in a namespace of its own, with a
// registered image that no VM will boot, and a CLI any user may run.
type accessEnv struct {
	*env
	base, cli string
}

func newAccessEnv(t *testing.T) *accessEnv {
	for _, tool := range []string{"useradd", "userdel", "groupadd", "groupdel", "mkfs.ext4"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the access test needs %s to make users and an image: %v", tool, err)
		}
	}
	base, err := os.MkdirTemp("", "bge2e-access-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	accMust(t, os.Chmod(base, 0o755)) // users reach the runtime dir and the CLI through it
	e := &accessEnv{base: base, cli: filepath.Join(base, "banger"), env: &env{t: t, bin: binaries(t),
		cfgPath: filepath.Join(base, "root.toml"), state: filepath.Join(base, "state"), runtime: base,
		netns: fmt.Sprintf("bge2e-access-%d", os.Getpid())}}
	b, err := os.ReadFile(filepath.Join(e.bin, "banger"))
	accMust(t, err)
	accMust(t, os.WriteFile(e.cli, b, 0o755))
	if out, err := exec.Command("ip", "netns", "add", e.netns).CombinedOutput(); err != nil {
		t.Fatalf("create netns: %v: %s", err, out)
	}
	t.Cleanup(func() {
		e.stopDaemon()
		_ = exec.Command("ip", "netns", "del", e.netns).Run()
	})
	cfg := fmt.Sprintf("state_dir = %q\nruntime_dir = %q\nbridge_name = \"br-bgacc\"\ncidr = \"172.31.78.0/24\"\n"+
		"dns_addr = \"off\"\nvmm = \"qemu\"\nauto_warm = false\n", e.state, filepath.Join(base, "run"))
	accMust(t, os.WriteFile(e.cfgPath, []byte(cfg), 0o644))
	e.startDaemon()
	return e
}

func accMust(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// run runs the CLI as u (root when nil) and returns its output and exit
// code.
func (e *accessEnv) run(u *hostUser, args ...string) (string, int) {
	cfg := e.cfgPath
	if u != nil {
		// A user's own config points at root's daemon.
		cfg = filepath.Join(e.base, u.name+".toml")
		state := filepath.Join(e.base, u.name)
		accMust(e.t, os.MkdirAll(state, 0o700))
		accMust(e.t, os.Chown(state, u.uid, u.gid))
		body := fmt.Sprintf("state_dir = %q\nruntime_dir = %q\n", state, filepath.Join(e.base, "run"))
		accMust(e.t, os.WriteFile(cfg, []byte(body), 0o644))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.cli, append([]string{"--config", cfg}, args...)...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/nonexistent"}
	if u != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: u.groups}}
	}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return buf.String(), ee.ExitCode()
	}
	if err != nil {
		e.t.Fatalf("banger %v: %v", args, err)
	}
	return buf.String(), 0
}

// registerImage registers a tiny image no VM boots: an empty ext4 and a
// file that looks like a bzImage.
func (e *accessEnv) registerImage(name string) {
	t := e.t
	rootfs := filepath.Join(e.base, "rootfs.ext4")
	accMust(t, os.WriteFile(rootfs, nil, 0o644))
	accMust(t, os.Truncate(rootfs, 32<<20))
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", rootfs).CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v: %s", err, out)
	}
	kernel := make([]byte, 4096)
	copy(kernel[0x202:], "HdrS")
	accMust(t, os.WriteFile(filepath.Join(e.base, "vmlinuz"), kernel, 0o644))
	if out, code := e.run(nil, "image", "register", "--name", name, "--rootfs", rootfs, "--kernel", filepath.Join(e.base, "vmlinuz")); code != 0 {
		t.Fatalf("image register: exit %d: %s", code, out)
	}
}

// TestSecondUser: a user in the banger group creates, lists and deletes
// its own VMs through root's daemon and cannot see or touch root's; a
// user outside the group is refused. No VM boots (--no-start).
func TestSecondUser(t *testing.T) {
	requireHost(t)
	if _, err := user.LookupGroup("banger"); err != nil {
		if out, err := exec.Command("groupadd", "--system", "banger").CombinedOutput(); err != nil {
			t.Fatalf("groupadd banger: %v: %s", err, out)
		}
		t.Cleanup(func() { _ = exec.Command("groupdel", "banger").Run() })
	}
	suffix := strconv.Itoa(os.Getpid() % 100000)
	member := addUser(t, "bgmember"+suffix, "banger")
	outsider := addUser(t, "bgoutsider"+suffix)
	e := newAccessEnv(t)
	e.registerImage("acc")

	step := func(u *hostUser, wantCode int, want string, args ...string) string {
		t.Helper()
		who := "root"
		if u != nil {
			who = u.name
		}
		out, code := e.run(u, args...)
		if (wantCode == 0) != (code == 0) || !strings.Contains(out, want) {
			t.Fatalf("%s: banger %s: exit %d, output:\n%s\nwant exit %d and %q", who, strings.Join(args, " "), code, out, wantCode, want)
		}
		return out
	}
	step(nil, 0, "rootvm", "vm", "create", "--no-start", "--image", "acc", "--name", "rootvm")
	step(&member, 0, "mine", "vm", "create", "--no-start", "--image", "acc", "--name", "mine")
	step(&member, 0, "mine2", "vm", "create", "--no-start", "--image", "acc", "--name", "mine2")

	if out := step(&member, 0, "mine", "vm", "list"); strings.Contains(out, "rootvm") {
		t.Fatalf("the member sees root's VM:\n%s", out)
	}
	step(&member, 1, "not found", "vm", "show", "rootvm")
	step(&member, 1, "not found", "vm", "delete", "rootvm")
	step(&member, 1, "only root", "daemon", "stop")
	step(&member, 0, "deleted mine", "vm", "delete", "mine")
	if out := step(nil, 0, "rootvm", "vm", "list"); !strings.Contains(out, "mine2") || strings.Contains(out, "mine ") {
		t.Fatalf("root's list after the member's delete:\n%s", out)
	}
	step(&outsider, 1, "banger", "vm", "list")
	out, _ := e.run(&outsider, "vm", "list")
	if !strings.Contains(out, "permission denied") || !strings.Contains(out, "usermod -aG banger") {
		t.Fatalf("the outsider's refusal does not say how to get access:\n%s", out)
	}
	step(nil, 0, "deleted rootvm", "vm", "delete", "rootvm", "mine2")
}
