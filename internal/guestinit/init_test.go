package guestinit

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/agent"
)

// fakeHost records what init does instead of doing it.
type fakeHost struct {
	mounted  map[string]bool
	devices  map[string]bool
	cmdline  string
	calls    []string
	children bool           // processes are left
	dieOn    syscall.Signal // the signal that ends them
}

func (h *fakeHost) MountPoints() map[string]bool { return maps.Clone(h.mounted) }

func (h *fakeHost) Mount(m Mount) error {
	if m.Flags&unix.MS_REMOUNT != 0 {
		h.calls = append(h.calls, fmt.Sprintf("remount %s ro=%v", m.Target, m.Flags&unix.MS_RDONLY != 0))
		return nil
	}
	h.calls = append(h.calls, "mount "+m.Source+" "+m.Target+" "+m.FSType)
	h.mounted[m.Target] = true
	return nil
}

func (h *fakeHost) Unmount(target string) error {
	h.calls = append(h.calls, "unmount "+target)
	delete(h.mounted, target)
	return nil
}

func (h *fakeHost) Exists(path string) bool { return h.devices[path] }

func (h *fakeHost) ReadFile(path string) ([]byte, error) {
	if path != "/proc/cmdline" {
		return nil, fmt.Errorf("unexpected read of %s", path)
	}
	return []byte(h.cmdline), nil
}

func (h *fakeHost) ConfigureNetwork(_ context.Context, cfg agent.NetConfig) error {
	h.calls = append(h.calls, fmt.Sprintf("network %s %s gw=%s dns=%v", cfg.Hostname, cfg.Addr, cfg.Gateway, cfg.DNS))
	return nil
}

func (h *fakeHost) Kill(pid int, sig syscall.Signal) error {
	h.calls = append(h.calls, fmt.Sprintf("kill %d %s", pid, unix.SignalName(sig)))
	if sig == h.dieOn {
		h.children = false
	}
	return nil
}

func (h *fakeHost) HasChildren() bool { return h.children }
func (h *fakeHost) Sync()             { h.calls = append(h.calls, "sync") }

func (h *fakeHost) Reboot(cmd int) error {
	name := map[int]string{unix.LINUX_REBOOT_CMD_CAD_OFF: "cad-off", unix.LINUX_REBOOT_CMD_POWER_OFF: "power-off"}[cmd]
	h.calls = append(h.calls, "reboot "+name)
	return nil
}

const netCmdline = "console=ttyS0 banger.ip=10.0.0.2/24 banger.gw=10.0.0.1 banger.hostname=vm1"

func TestBootPlan(t *testing.T) {
	apiAfterDev := []string{"mount devpts /dev/pts devpts", "mount tmpfs /dev/shm tmpfs", "mount tmpfs /run tmpfs", "mount tmpfs /tmp tmpfs"}
	tests := []struct {
		name    string
		mounted []string
		devices []string
		cmdline string
		want    []string
		wantErr string
	}{
		{
			name:    "kernel mounted /dev; defaults",
			mounted: []string{"/", "/dev"},
			devices: []string{"/dev/vdb"},
			cmdline: netCmdline,
			want: slices.Concat([]string{"mount proc /proc proc", "mount sysfs /sys sysfs"}, apiAfterDev, []string{
				"mount /dev/vdb /root ext4", "network vm1 10.0.0.2/24 gw=10.0.0.1 dns=[10.0.0.1]", "reboot cad-off"}),
		},
		{
			name:    "banger.work and banger.dns; /proc and /root mounted already",
			mounted: []string{"/", "/proc", "/root"},
			devices: []string{"/dev/vdc"},
			cmdline: netCmdline + " banger.work=/dev/vdc banger.dns=192.0.2.53",
			want: slices.Concat([]string{"mount sysfs /sys sysfs", "mount devtmpfs /dev devtmpfs"}, apiAfterDev, []string{
				"network vm1 10.0.0.2/24 gw=10.0.0.1 dns=[192.0.2.53]", "reboot cad-off"}),
		},
		{
			name:    "a snapshot template: banger.work=none, no network",
			mounted: []string{"/", "/dev"},
			devices: []string{"/dev/vdb"},
			cmdline: "console=ttyS0 banger.work=none",
			want:    slices.Concat([]string{"mount proc /proc proc", "mount sysfs /sys sysfs"}, apiAfterDev, []string{"reboot cad-off"}),
		},
		{
			name:    "no work disk, no network parameters",
			mounted: []string{"/"},
			cmdline: "console=ttyS0 banger.work=/dev/vdz",
			want: slices.Concat([]string{"mount proc /proc proc", "mount sysfs /sys sysfs", "mount devtmpfs /dev devtmpfs"},
				apiAfterDev, []string{"reboot cad-off"}),
			wantErr: "work disk /dev/vdz did not appear within 5s",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &fakeHost{mounted: set(tt.mounted), devices: set(tt.devices), cmdline: tt.cmdline}
				err := New(h, nil).Boot(t.Context())
				if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
					t.Errorf("Boot = %v, want error %q", err, tt.wantErr)
				}
				if !slices.Equal(h.calls, tt.want) {
					t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(h.calls, "\n"), strings.Join(tt.want, "\n"))
				}
			})
		})
	}
}

func set(s []string) map[string]bool {
	m := map[string]bool{}
	for _, k := range s {
		m[k] = true
	}
	return m
}

func TestShutdownPlan(t *testing.T) {
	tests := []struct {
		name     string
		dieOn    syscall.Signal
		kills    []string
		duration time.Duration
	}{
		{"processes end on SIGTERM", syscall.SIGTERM, []string{"kill -1 SIGTERM"}, 0},
		{"processes ignore SIGTERM", syscall.SIGKILL, []string{"kill -1 SIGTERM", "kill -1 SIGKILL"}, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &fakeHost{mounted: set([]string{"/", "/dev"}), devices: set([]string{"/dev/vdb"}), cmdline: "quiet"}
				in := New(h, nil)
				in.Grace = 3 * time.Second
				if err := in.Boot(t.Context()); err != nil {
					t.Fatal(err)
				}
				h.calls, h.children, h.dieOn = nil, true, tt.dieOn
				start := time.Now()
				if err := in.Shutdown(t.Context()); err != nil {
					t.Fatal(err)
				}
				if got := time.Since(start); got < tt.duration || got > tt.duration+time.Second {
					t.Errorf("shutdown took %v, want about %v", got, tt.duration)
				}
				want := slices.Concat(tt.kills, []string{"sync", "unmount /root", "unmount /tmp", "unmount /run",
					"unmount /dev/shm", "unmount /dev/pts", "unmount /sys", "unmount /proc", "remount / ro=true", "sync", "reboot power-off"})
				if !slices.Equal(h.calls, want) {
					t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(h.calls, "\n"), strings.Join(want, "\n"))
				}
			})
		})
	}
}

func TestParseMounts(t *testing.T) {
	got := parseMounts([]byte("/dev/vda / ext4 rw 0 0\nproc /proc proc rw 0 0\n/dev/vdb /mnt/a\\040b ext4 rw 0 0\n"))
	for _, p := range []string{"/", "/proc", "/mnt/a b"} {
		if !got[p] {
			t.Errorf("%q not found in %v", p, got)
		}
	}
	if len(got) != 3 {
		t.Errorf("got %v", got)
	}
}

func TestWaitReturnsOnPowerOff(t *testing.T) {
	in := New(&fakeHost{}, nil)
	done := make(chan struct{})
	go func() {
		in.Wait(context.Background(), nil)
		close(done)
	}()
	in.PowerOff()
	in.PowerOff() // twice is fine
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after PowerOff")
	}
}
