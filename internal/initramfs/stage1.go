package initramfs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/poll"
)

// InInitramfs reports whether this is banger's initramfs (its LoadOrder
// file is there; Stage1 removes it before leaving) rather than a root
// disk: the agent started as /init there runs Stage1.
func InInitramfs() bool {
	_, err := os.Stat(LoadOrder)
	return err == nil
}

// Boot is what Stage1 reads from the kernel command line.
type Boot struct {
	Root, FSType, Flags, Init string
	ReadOnly                  bool
}

// ParseCmdline reads root=, rootfstype=, rootflags=, ro/rw and init= from
// a kernel command line. init defaults to /sbin/init and the file system
// type to ext4.
func ParseCmdline(cmdline string) (Boot, error) {
	b := Boot{FSType: "ext4", Init: "/sbin/init"}
	for _, f := range strings.Fields(cmdline) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "root":
			b.Root = v
		case "rootfstype":
			b.FSType = v
		case "rootflags":
			b.Flags = v
		case "init":
			b.Init = v
		case "ro":
			b.ReadOnly = true
		case "rw":
			b.ReadOnly = false
		}
	}
	switch {
	case !strings.HasPrefix(b.Root, "/dev/") || strings.Contains(b.Root, ".."):
		return b, fmt.Errorf("root=%q: want a device node under /dev", b.Root)
	case !filepath.IsAbs(b.Init):
		return b, fmt.Errorf("init=%q: want an absolute path", b.Init)
	}
	return b, nil
}

// Stage1 is /init: it mounts /dev, /proc and /sys, loads the modules in
// LoadOrder, mounts the root disk, switches to it and executes its init
// (the agent again, as PID 1 of the real root, or systemd). It returns
// only on failure.
func Stage1(ctx context.Context, log *slog.Logger, deviceWait time.Duration) error {
	for _, m := range []struct{ src, dst, fs string }{
		{"devtmpfs", "/dev", "devtmpfs"}, {"proc", "/proc", "proc"}, {"sysfs", "/sys", "sysfs"},
	} {
		if err := unix.Mount(m.src, m.dst, m.fs, unix.MS_NOSUID, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return fmt.Errorf("read kernel command line: %w", err)
	}
	boot, err := ParseCmdline(string(cmdline))
	if err != nil {
		return err
	}
	start := time.Now()
	if err := loadModules(log); err != nil {
		return err
	}
	if err := mountRoot(ctx, boot, deviceWait); err != nil {
		return err
	}
	log.Debug("initramfs: root mounted", "root", boot.Root, "took", time.Since(start).Round(time.Millisecond))
	return switchRoot(boot.Init)
}

// loadModules loads each module named in LoadOrder; one already loaded
// is not an error.
func loadModules(log *slog.Logger) error {
	b, err := os.ReadFile(LoadOrder)
	if err != nil {
		return fmt.Errorf("read %s: %w", LoadOrder, err)
	}
	for _, name := range strings.Fields(string(b)) {
		if err := loadModule(filepath.Join(ModDir, filepath.Base(name))); err != nil {
			log.Warn("initramfs: module", "module", name, "err", err)
		}
	}
	return nil
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("load %s: %w", path, err)
	}
	return nil
}

// mountRoot waits for the root device's node (devtmpfs makes it when the
// driver probes) and mounts it on NewRoot.
func mountRoot(ctx context.Context, b Boot, wait time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	err := poll.Until(wctx, 5*time.Millisecond, nil, func(context.Context) (bool, error) {
		_, err := os.Stat(b.Root)
		return err == nil, nil
	})
	if err != nil {
		return fmt.Errorf("root device %s did not appear within %s", b.Root, wait)
	}
	var flags uintptr
	if b.ReadOnly {
		flags |= unix.MS_RDONLY
	}
	if err := unix.Mount(b.Root, NewRoot, b.FSType, flags, b.Flags); err != nil {
		return fmt.Errorf("mount root %s (%s): %w", b.Root, b.FSType, err)
	}
	return nil
}

// switchRoot moves /dev, /proc and /sys under NewRoot, frees the
// initramfs's files, makes NewRoot the root and executes init there, as
// PID 1.
func switchRoot(init string) error {
	for _, m := range []string{"/dev", "/proc", "/sys"} {
		dst := NewRoot + m
		if err := unix.Mount(m, dst, "", unix.MS_MOVE, ""); err != nil {
			_ = unix.Unmount(m, unix.MNT_DETACH) // the root has no such dir: its init mounts its own
		}
	}
	// The archive's files live in RAM until removed.
	_ = os.RemoveAll(ModDir)
	_ = os.Remove(InitPath)
	if err := unix.Chdir(NewRoot); err != nil {
		return fmt.Errorf("chdir %s: %w", NewRoot, err)
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move %s to /: %w", NewRoot, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	if err := unix.Exec(init, []string{init}, os.Environ()); err != nil {
		return fmt.Errorf("exec %s: %w", init, err)
	}
	return nil
}
