package qemu

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"banger/internal/agent"
	"banger/internal/poll"
	"banger/internal/vmm"
)

// imageFor finds the default image's rootfs and initrd beside a test
// kernel from the end-to-end cache, or skips.
func imageFor(t *testing.T, kernel string) (rootfs, initrd string) {
	t.Helper()
	state := filepath.Dir(filepath.Dir(filepath.Dir(kernel)))
	rootfs = filepath.Join(state, "images", "debian-bookworm", "rootfs.ext4")
	if r := os.Getenv("BANGER_TEST_ROOTFS"); r != "" {
		rootfs = r // e.g. the default image with this tree's agent in it
	}
	initrd = filepath.Join(filepath.Dir(kernel), "initrd.img")
	for _, p := range []string{rootfs, initrd} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("no default image beside the test kernel: %v", err)
		}
	}
	return rootfs, initrd
}

// snapVM is the config of a template or a clone of the default image in
// dir: the root disk an overlay (over the image for the template, over the
// template's frozen one for a clone), a small work disk, no NIC.
func snapVM(t *testing.T, dir, id, kernel, initrd string, root vmm.Disk, workMiB int) vmm.Config {
	t.Helper()
	work := filepath.Join(dir, id+"-work.ext4")
	if out, err := exec.Command("sh", "-c", fmt.Sprintf("truncate -s %dM %s && mkfs.ext4 -q %s", workMiB, work, work)).CombinedOutput(); err != nil {
		t.Fatalf("make work disk: %v: %s", err, out)
	}
	run := filepath.Join(dir, id)
	return vmm.Config{
		ID: id, Kernel: kernel, Initrd: initrd,
		Cmdline: "console=ttyS0 root=/dev/vda rw net.ifnames=0 panic=-1 quiet banger.work=none",
		Disks:   []vmm.Disk{root, {Path: work, Format: "raw"}},
		VCPUs:   2, MemoryMiB: 512,
		Dir: run, ConsoleLog: filepath.Join(dir, id+".console"), AgentSocket: filepath.Join(run, "agent.sock"),
	}
}

// hello waits until the guest's agent answers and returns a client.
func hello(ctx context.Context, t *testing.T, socket string) (*agent.Client, agent.Hello) {
	t.Helper()
	var c *agent.Client
	var h agent.Hello
	err := poll.Until(ctx, 20*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		var err error
		if c, err = agent.Dial(actx, socket); err != nil {
			return false, nil
		}
		if h, err = c.Hello(actx); err != nil {
			c.Close()
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("agent on %s did not answer: %v", socket, err)
	}
	t.Cleanup(func() { c.Close() })
	return c, h
}

func TestSnapshotRestoreTCG(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a real guest under TCG; skipped with -short")
	}
	kernel := testKernel(t)
	rootfs, initrd := imageFor(t, kernel)
	dir, err := os.MkdirTemp("", "bgs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	q := New(Options{Accel: "tcg"})
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	tplDir := filepath.Join(dir, "tpl")
	root, err := q.PrepareRootDisk(ctx, rootfs, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	takeTemplate(ctx, t, q, snapVM(t, dir, "tpl", kernel, initrd, root, 64), tplDir)
	mem, _ := os.Stat(filepath.Join(tplDir, templateMemName))
	var ids []agent.IdentityResult
	for i := range 2 {
		if r, ok := restoreClone(ctx, t, q, dir, i, tplDir, root, kernel, initrd); ok {
			ids = append(ids, r)
		}
	}
	after, _ := os.Stat(filepath.Join(tplDir, templateMemName))
	if !after.ModTime().Equal(mem.ModTime()) || after.Size() != mem.Size() {
		t.Errorf("the template's memory file changed under its clones: %v %d -> %v %d", mem.ModTime(), mem.Size(), after.ModTime(), after.Size())
	}
	if len(ids) == 2 {
		checkDistinct(t, ids[0], ids[1])
	}
}

// takeTemplate boots cfg as a template, waits until the guest settled and
// saves it in tplDir.
func takeTemplate(ctx context.Context, t *testing.T, q *QEMU, cfg vmm.Config, tplDir string) {
	t.Helper()
	h, err := q.StartTemplate(ctx, cfg, tplDir)
	if err != nil {
		t.Fatalf("StartTemplate: %v", err)
	}
	t.Cleanup(func() { _ = q.Kill(context.Background(), h) })
	checkConfined(t, h.PID, cfg)
	c, hi := hello(ctx, t, cfg.AgentSocket)
	if hi.Supports(agent.MethodSettle) {
		st, err := c.Settle(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("template settled: RNG ready after %s more", st.Waited)
	} else {
		time.Sleep(3 * time.Second) // an agent without "settle": give the RNG time
	}
	c.Close()
	if err := q.Snapshot(ctx, h, tplDir); err != nil {
		t.Fatalf("Snapshot: %v\nqemu.log:\n%s", err, vmm.Tail(filepath.Join(cfg.Dir, logFileName), 2048))
	}
	if vmm.Alive(h.PID, h.StartTime) {
		t.Fatal("template qemu still running after Snapshot")
	}
}

// restoreClone restores clone i with a bigger work disk than the
// template's, has it take an identity when its agent can and returns what
// it reports.
func restoreClone(ctx context.Context, t *testing.T, q *QEMU, dir string, i int, tplDir string, root vmm.Disk, kernel, initrd string) (agent.IdentityResult, bool) {
	t.Helper()
	id := fmt.Sprintf("c%d", i+1)
	clone, err := q.CloneDisk(ctx, root, filepath.Join(dir, id+".qcow2"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := snapVM(t, dir, id, kernel, initrd, clone, 96)
	cfg.GuestCID = uint32(3 + i) // a uid of its own, not the template's
	start := time.Now()
	h, err := q.Restore(ctx, cfg, tplDir)
	if err != nil {
		t.Fatalf("Restore %s: %v", id, err)
	}
	defer q.Kill(context.WithoutCancel(ctx), h)
	checkConfined(t, h.PID, cfg)
	restored := time.Since(start)
	c, hi := hello(ctx, t, cfg.AgentSocket)
	t.Logf("clone %s: restored in %s, agent answered after %s", id, restored.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if !hi.Supports(agent.MethodIdentity) {
		t.Logf("the image's agent takes no identity (set BANGER_TEST_ROOTFS to an image with this tree's agent)")
		return agent.IdentityResult{}, false
	}
	if err := q.ResizedDisk(ctx, h, 1, 96<<20); err != nil {
		t.Fatal(err)
	}
	entropy := make([]byte, 64)
	rand.Read(entropy)
	r, err := c.TakeIdentity(ctx, agent.Identity{
		Net: agent.NetConfig{Hostname: "clone-" + id}, MachineID: fmt.Sprintf("%032x", i+1),
		Entropy: entropy, Time: time.Now(), WorkDevice: "/dev/vdb", WorkSize: 96 << 20,
	})
	if err != nil {
		t.Fatalf("identity of %s: %v", id, err)
	}
	t.Logf("clone %s: identity taken after %s: %+v", id, time.Since(start).Round(time.Millisecond), r)
	if r.Hostname != "clone-"+id || r.MachineID != fmt.Sprintf("%032x", i+1) {
		t.Errorf("clone %s reads back %q, %q", id, r.Hostname, r.MachineID)
	}
	return r, true
}

func checkDistinct(t *testing.T, a, b agent.IdentityResult) {
	t.Helper()
	for what, pair := range map[string][2]string{
		"host key": {a.SSHHostKey, b.SSHHostKey}, "hostname": {a.Hostname, b.Hostname}, "sshd host key": {a.SSHDHostKey, b.SSHDHostKey},
		"machine-id": {a.MachineID, b.MachineID}, "random bytes": {string(a.Random), string(b.Random)},
		"boot_id": {a.BootID, b.BootID},
	} {
		if pair[0] == pair[1] {
			// systemd read boot_id before the snapshot: see docs/snapshots.md.
			if what == "boot_id" {
				t.Logf("the two clones share boot_id %s (systemd reads it at boot)", a.BootID)
				continue
			}
			t.Errorf("the two clones share their %s: %q", what, pair[0])
		}
	}
}
