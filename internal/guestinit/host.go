// Package guestinit is banger-agent as PID 1, for images without systemd
// (container images: no init, no udev, no sshd). It mounts the API file
// systems and the work disk, configures the network, reaps orphans, and
// on a power-off request stops every process, unmounts and powers off.
// Every touch of the machine goes through Host, so the plan can be
// checked without being root or PID 1.
package guestinit

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"banger/internal/agent"
	"banger/internal/guestnet"
)

// Host is what init does to the machine.
type Host interface {
	// MountPoints lists what is mounted now (empty before /proc is).
	MountPoints() map[string]bool
	Mount(m Mount) error
	Unmount(target string) error
	// Exists reports whether a path (a device node) is there.
	Exists(path string) bool
	ReadFile(path string) ([]byte, error)
	// ConfigureNetwork sets the hostname, lo, eth0 and resolv.conf.
	ConfigureNetwork(ctx context.Context, cfg agent.NetConfig) error
	// Kill signals pid; -1 means every process but init.
	Kill(pid int, sig syscall.Signal) error
	// HasChildren reports whether init still has a child, exited or not.
	HasChildren() bool
	Sync()
	// Reboot calls reboot(2) with a LINUX_REBOOT_CMD_* command.
	Reboot(cmd int) error
}

// Mount is one mount(2) call.
type Mount struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
}

// SysHost is the real machine.
type SysHost struct{}

// MountPoints reads /proc/self/mounts.
func (SysHost) MountPoints() map[string]bool {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return map[string]bool{}
	}
	return parseMounts(b)
}

func parseMounts(b []byte) map[string]bool {
	m := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 {
			m[unescapeMount(f[1])] = true
		}
	}
	return m
}

// unescapeMount undoes the octal escapes (\040 for a space) of
// /proc/self/mounts.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, ok := octal(s[i+1 : i+4]); ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func octal(s string) (byte, bool) {
	if len(s) != 3 {
		return 0, false
	}
	var v int
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, false
		}
		v = v*8 + int(c-'0')
	}
	return byte(v), v < 256
}

// Mount creates the mount point and mounts.
func (SysHost) Mount(m Mount) error {
	if err := os.MkdirAll(m.Target, 0o755); err != nil {
		return err
	}
	return unix.Mount(m.Source, m.Target, m.FSType, m.Flags, m.Data)
}

// Unmount unmounts target, lazily when it is busy.
func (SysHost) Unmount(target string) error {
	if err := unix.Unmount(target, 0); err != nil {
		return unix.Unmount(target, unix.MNT_DETACH)
	}
	return nil
}

// Exists stats path.
func (SysHost) Exists(path string) bool { _, err := os.Stat(path); return err == nil }

// ReadFile reads a file.
func (SysHost) ReadFile(path string) ([]byte, error) { return os.ReadFile(path) }

// ConfigureNetwork runs guestnet.Configure.
func (SysHost) ConfigureNetwork(ctx context.Context, cfg agent.NetConfig) error {
	return guestnet.Configure(ctx, cfg)
}

// Kill calls kill(2).
func (SysHost) Kill(pid int, sig syscall.Signal) error { return syscall.Kill(pid, sig) }

// HasChildren asks waitid(P_ALL, WNOWAIT), which reaps nothing. As PID 1
// inherits every orphan, no children means no processes left.
func (SysHost) HasChildren() bool {
	var info unix.Siginfo
	err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
	return err != unix.ECHILD
}

// Sync calls sync(2).
func (SysHost) Sync() { unix.Sync() }

// Reboot calls reboot(2).
func (SysHost) Reboot(cmd int) error { return unix.Reboot(cmd) }
