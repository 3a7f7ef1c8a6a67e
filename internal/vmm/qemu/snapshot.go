package qemu

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"banger/internal/atomicfile"
	"banger/internal/vmm"
)

var _ vmm.Snapshotter = (*QEMU)(nil)

// snapshotInfo is what Snapshot records beside the state for Restore.
type snapshotInfo struct {
	Mode      string `json:"mode"`
	MemoryMiB int    `json:"memory_mib"`
}

// quitWait bounds the wait for a saved template's QEMU to exit.
const quitWait = 5 * time.Second

// StartTemplate implements vmm.Snapshotter: Start, with the guest's RAM in
// dir/mem mapped shared.
func (q *QEMU) StartTemplate(ctx context.Context, cfg vmm.Config, dir string) (vmm.Handle, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return vmm.Handle{}, fmt.Errorf("start template of vm %s: %w", cfg.ID, err)
	}
	return q.start(ctx, cfg, TemplateArgs(cfg, dir))
}

// Snapshot implements vmm.Snapshotter: pause, save the state to
// dir/state, record the mode, end the process.
func (q *QEMU) Snapshot(ctx context.Context, h vmm.Handle, dir string) error {
	info, err := q.save(ctx, h, dir)
	if err != nil {
		_ = q.Kill(context.WithoutCancel(ctx), h)
		return fmt.Errorf("snapshot into %s: %w", dir, err)
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, templateInfoName), info, 0o600); err != nil {
		_ = q.Kill(context.WithoutCancel(ctx), h)
		return fmt.Errorf("snapshot into %s: %w", dir, err)
	}
	q.quit(ctx, h)
	return nil
}

func (q *QEMU) save(ctx context.Context, h vmm.Handle, dir string) (snapshotInfo, error) {
	mem, err := os.Stat(filepath.Join(dir, templateMemName))
	if err != nil {
		return snapshotInfo{}, fmt.Errorf("template memory: %w", err)
	}
	c, err := DialQMP(ctx, h.Control)
	if err != nil {
		return snapshotInfo{}, err
	}
	defer c.Close()
	start := time.Now()
	mode, err := saveState(ctx, c, filepath.Join(dir, templateStateName))
	if err != nil {
		return snapshotInfo{}, err
	}
	q.log.Info("qemu snapshot saved", "dir", dir, "mode", mode, "took", time.Since(start))
	return snapshotInfo{Mode: mode, MemoryMiB: int(mem.Size() >> 20)}, nil
}

// quit asks a paused QEMU to exit and kills it when it does not.
func (q *QEMU) quit(ctx context.Context, h vmm.Handle) {
	if c, err := DialQMP(ctx, h.Control); err == nil {
		_, _ = c.Execute(ctx, "quit", nil)
		c.Close()
	}
	wctx, cancel := context.WithTimeout(ctx, quitWait)
	defer cancel()
	if err := q.Wait(wctx, h); err != nil {
		_ = q.Kill(context.WithoutCancel(ctx), h)
	}
}

// Restore implements vmm.Snapshotter: start QEMU waiting for an incoming
// migration over the template's RAM mapped private, feed it the saved
// state and resume the guest.
func (q *QEMU) Restore(ctx context.Context, cfg vmm.Config, dir string) (vmm.Handle, error) {
	info, err := readSnapshotInfo(dir)
	if err != nil {
		return vmm.Handle{}, fmt.Errorf("restore vm %s: %w", cfg.ID, err)
	}
	if info.MemoryMiB != cfg.MemoryMiB {
		return vmm.Handle{}, fmt.Errorf("restore vm %s: template has %d MiB of memory, vm wants %d", cfg.ID, info.MemoryMiB, cfg.MemoryMiB)
	}
	start := time.Now()
	h, err := q.start(ctx, cfg, RestoreArgs(cfg, dir))
	if err != nil {
		return vmm.Handle{}, fmt.Errorf("restore vm %s: %w", cfg.ID, err)
	}
	if err := q.load(ctx, h, dir, info.Mode); err != nil {
		_ = q.Kill(context.WithoutCancel(ctx), h)
		return vmm.Handle{}, fmt.Errorf("restore vm %s from %s: %w", cfg.ID, dir, err)
	}
	q.log.Info("qemu restored", "vm", cfg.ID, "template", dir, "mode", info.Mode, "took", time.Since(start))
	return h, nil
}

func (q *QEMU) load(ctx context.Context, h vmm.Handle, dir, mode string) error {
	c, err := DialQMP(ctx, h.Control)
	if err != nil {
		return err
	}
	defer c.Close()
	return loadState(ctx, c, filepath.Join(dir, templateStateName), mode)
}

func readSnapshotInfo(dir string) (snapshotInfo, error) {
	var info snapshotInfo
	b, err := os.ReadFile(filepath.Join(dir, templateInfoName))
	if err != nil {
		return info, fmt.Errorf("read snapshot info: %w", err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return info, fmt.Errorf("parse snapshot info: %w", err)
	}
	if info.Mode != ModeIgnoreShared && info.Mode != ModeStream {
		return info, fmt.Errorf("snapshot info: unknown mode %q", info.Mode)
	}
	return info, nil
}

// SnapshotKey implements vmm.Snapshotter. Every create asks for it, so the
// binary's version is asked once per binary file, not once per call.
func (q *QEMU) SnapshotKey(ctx context.Context, cfg vmm.Config) (string, error) {
	out, err := q.versions.get(ctx, q.binary)
	if err != nil {
		return "", fmt.Errorf("snapshot key: %w", err)
	}
	return snapshotKey(q.binary, out, q.accel, q.tscKHz, cfg), nil
}

// versionCache remembers `--version` of a binary until the file on PATH
// changes (a new inode, size or modification time: an upgrade).
type versionCache struct {
	mu    sync.Mutex
	stamp string
	out   string
}

func (c *versionCache) get(ctx context.Context, binary string) (string, error) {
	path, err := exec.LookPath(binary)
	if err != nil {
		return "", fmt.Errorf("find %s: %w", binary, err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("find %s: %w", binary, err)
	}
	stamp := fmt.Sprintf("%s|%d|%d", path, st.Size(), st.ModTime().UnixNano())
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		stamp += fmt.Sprintf("|%d|%d", sys.Dev, sys.Ino)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stamp == stamp {
		return c.out, nil
	}
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", path, err)
	}
	c.stamp, c.out = stamp, string(out)
	return c.out, nil
}

// CloneDisk implements vmm.Snapshotter: a qcow2 overlay over the frozen
// base, of the base's format.
func (q *QEMU) CloneDisk(ctx context.Context, base vmm.Disk, path string) (vmm.Disk, error) {
	if err := OverlaySized(ctx, q.img, base.Path, base.Format, path, 0); err != nil {
		return vmm.Disk{}, fmt.Errorf("clone disk: %w", err)
	}
	return vmm.Disk{Path: path, Format: "qcow2"}, nil
}

// ResizedDisk implements vmm.Snapshotter: block_resize to the disk's
// size, which makes QEMU tell the guest its new capacity.
func (q *QEMU) ResizedDisk(ctx context.Context, h vmm.Handle, index int, size int64) error {
	c, err := DialQMP(ctx, h.Control)
	if err != nil {
		return err
	}
	defer c.Close()
	dev := fmt.Sprintf("disk%d", index)
	if _, err := c.Execute(ctx, "block_resize", map[string]any{"device": dev, "size": size}); err != nil {
		return fmt.Errorf("announce the size of %s: %w", dev, err)
	}
	return nil
}
