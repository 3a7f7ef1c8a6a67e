package qemu

import (
	"context"
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
func snapVM(t *testing.T, dir, id, kernel, initrd string, root vmm.Disk) vmm.Config {
	t.Helper()
	work := filepath.Join(dir, id+"-work.ext4")
	if out, err := exec.Command("sh", "-c", "truncate -s 64M "+work+" && mkfs.ext4 -q "+work).CombinedOutput(); err != nil {
		t.Fatalf("make work disk: %v: %s", err, out)
	}
	run := filepath.Join(dir, id)
	return vmm.Config{
		ID: id, Kernel: kernel, Initrd: initrd,
		Cmdline: "console=ttyS0 root=/dev/vda rw net.ifnames=0 panic=-1 quiet systemd.mask=root.mount",
		Disks:   []vmm.Disk{root, {Path: work, Format: "raw"}},
		VCPUs:   2, MemoryMiB: 512,
		Dir: run, ConsoleLog: filepath.Join(dir, id+".console"), AgentSocket: filepath.Join(run, "agent.sock"),
	}
}

// hello waits until the guest's agent answers.
func hello(ctx context.Context, t *testing.T, socket string, exited <-chan struct{}) {
	t.Helper()
	err := poll.Until(ctx, 20*time.Millisecond, exited, func(ctx context.Context) (bool, error) {
		actx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		c, err := agent.Dial(actx, socket)
		if err != nil {
			return false, nil
		}
		defer c.Close()
		_, err = c.Hello(actx)
		return err == nil, nil
	})
	if err != nil {
		t.Fatalf("agent on %s did not answer: %v", socket, err)
	}
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
	root, err := q.PrepareRootDisk(ctx, rootfs, dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := snapVM(t, dir, "tpl", kernel, initrd, root)
	h, err := q.StartTemplate(ctx, cfg, tplDir)
	if err != nil {
		t.Fatalf("StartTemplate: %v", err)
	}
	t.Cleanup(func() { _ = q.Kill(context.Background(), h) })
	hello(ctx, t, cfg.AgentSocket, nil)
	time.Sleep(3 * time.Second) // let the guest settle (its RNG initialised) before the snapshot
	if err := q.Snapshot(ctx, h, tplDir); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if vmm.Alive(h.PID, h.StartTime) {
		t.Fatal("template qemu still running after Snapshot")
	}
	mem, _ := os.Stat(filepath.Join(tplDir, templateMemName))
	for i := range 2 {
		id := "c" + string(rune('1'+i))
		clone, err := q.CloneDisk(ctx, root, filepath.Join(dir, id+".qcow2"))
		if err != nil {
			t.Fatal(err)
		}
		c := snapVM(t, dir, id, kernel, initrd, clone)
		start := time.Now()
		ch, err := q.Restore(ctx, c, tplDir)
		if err != nil {
			t.Fatalf("Restore %s: %v", id, err)
		}
		restored := time.Since(start)
		hello(ctx, t, c.AgentSocket, nil)
		t.Logf("clone %s: restored in %s, agent answered after %s", id, restored.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		if err := q.Kill(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := os.Stat(filepath.Join(tplDir, templateMemName))
	if !after.ModTime().Equal(mem.ModTime()) || after.Size() != mem.Size() {
		t.Errorf("the template's memory file changed under its clones: %v %d -> %v %d", mem.ModTime(), mem.Size(), after.ModTime(), after.Size())
	}
}
