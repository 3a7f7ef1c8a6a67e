package qemu

import (
	"slices"
	"strings"
	"testing"

	"banger/internal/vmm"
)

// pairs returns the values that follow each occurrence of flag in argv.
func pairs(argv []string, flag string) []string {
	var out []string
	for i := 0; i+1 < len(argv); i++ {
		if argv[i] == flag {
			out = append(out, argv[i+1])
		}
	}
	return out
}

func TestArgs(t *testing.T) {
	base := vmm.Config{
		ID:          "vm1",
		Kernel:      "/k/vmlinuz",
		Cmdline:     "console=ttyS0 root=/dev/vda",
		VCPUs:       2,
		MemoryMiB:   1024,
		Dir:         "/run/banger/vm1",
		ConsoleLog:  "/var/log/banger/vm1.console",
		AgentSocket: "/run/banger/vm1/agent.sock",
	}
	tests := []struct {
		name   string
		cfg    func(c vmm.Config) vmm.Config
		accel  string
		checks map[string][]string // flag -> all values, in order
		absent []string            // flags that must not appear
	}{
		{
			name:  "tcg minimal",
			cfg:   func(c vmm.Config) vmm.Config { return c },
			accel: "tcg",
			checks: map[string][]string{
				"-M":       {"microvm,acpi=on,x-option-roms=off,rtc=on"},
				"-accel":   {"tcg"},
				"-cpu":     {"max"},
				"-m":       {"1024"},
				"-smp":     {"2"},
				"-kernel":  {"/k/vmlinuz"},
				"-append":  {"console=ttyS0 root=/dev/vda"},
				"-serial":  {"chardev:con0"},
				"-pidfile": {"/run/banger/vm1/qemu.pid"},
				"-mon":     {"chardev=qmp,mode=control"},
				"-chardev": {
					"file,id=con0,path=/var/log/banger/vm1.console,append=on",
					"socket,id=qmp,path=/run/banger/vm1/qmp.sock,server=on,wait=off",
					"socket,id=agent,path=/run/banger/vm1/agent.sock,server=on,wait=off",
				},
				"-device": {"virtio-serial-device", "virtserialport,chardev=agent,name=org.banger.agent"},
			},
			absent: []string{"-initrd", "-drive", "-netdev", "-enable-kvm"},
		},
		{
			name:  "kvm",
			cfg:   func(c vmm.Config) vmm.Config { return c },
			accel: "kvm",
			checks: map[string][]string{
				"-accel": {"kvm"},
				"-cpu":   {"host"},
			},
		},
		{
			name: "initrd, disks and nics",
			cfg: func(c vmm.Config) vmm.Config {
				c.Initrd = "/k/initrd.img"
				c.Disks = []vmm.Disk{
					{Path: "/img/root.qcow2", Format: "qcow2"},
					{Path: "/img/seed.raw", ReadOnly: true},
				}
				c.NICs = []vmm.NIC{
					{Tap: "bgtap0", MAC: "52:54:00:00:00:01"},
					{Tap: "bgtap1", MAC: "52:54:00:00:00:02"},
				}
				return c
			},
			accel: "tcg",
			checks: map[string][]string{
				"-initrd": {"/k/initrd.img"},
				"-drive": {
					"id=disk0,file=/img/root.qcow2,format=qcow2,if=none,cache=writeback,discard=unmap,auto-read-only=off",
					"id=disk1,file=/img/seed.raw,format=raw,if=none,cache=writeback,readonly=on",
				},
				"-netdev": {
					"tap,id=net0,ifname=bgtap0,script=no,downscript=no",
					"tap,id=net1,ifname=bgtap1,script=no,downscript=no",
				},
				"-device": {
					"virtio-blk-device,drive=disk0",
					"virtio-blk-device,drive=disk1",
					"virtio-net-device,netdev=net0,mac=52:54:00:00:00:01",
					"virtio-net-device,netdev=net1,mac=52:54:00:00:00:02",
					"virtio-serial-device",
					"virtserialport,chardev=agent,name=org.banger.agent",
				},
			},
		},
		{
			name: "commas in paths are escaped",
			cfg: func(c vmm.Config) vmm.Config {
				c.Dir = "/run/a,b"
				c.ConsoleLog = "/log/c,d"
				c.AgentSocket = "/run/a,b/agent.sock"
				c.Disks = []vmm.Disk{{Path: "/img/x,y.raw", Format: "raw"}}
				return c
			},
			accel: "tcg",
			checks: map[string][]string{
				"-drive": {"id=disk0,file=/img/x,,y.raw,format=raw,if=none,cache=writeback,discard=unmap,auto-read-only=off"},
				"-chardev": {
					"file,id=con0,path=/log/c,,d,append=on",
					"socket,id=qmp,path=/run/a,,b/qmp.sock,server=on,wait=off",
					"socket,id=agent,path=/run/a,,b/agent.sock,server=on,wait=off",
				},
				// -pidfile takes a plain path, not an option string.
				"-pidfile": {"/run/a,b/qemu.pid"},
			},
		},
		{
			name:  "the agent's SSH port",
			cfg:   func(c vmm.Config) vmm.Config { c.SSHSocket = "/run/a,b/ssh.sock"; return c },
			accel: "tcg",
			checks: map[string][]string{
				"-chardev": {
					"file,id=con0,path=/var/log/banger/vm1.console,append=on",
					"socket,id=qmp,path=/run/banger/vm1/qmp.sock,server=on,wait=off",
					"socket,id=agent,path=/run/banger/vm1/agent.sock,server=on,wait=off",
					"socket,id=ssh,path=/run/a,,b/ssh.sock,server=on,wait=off",
				},
				"-device": {"virtio-serial-device", "virtserialport,chardev=agent,name=org.banger.agent",
					"virtserialport,chardev=ssh,name=org.banger.ssh"},
			},
		},
		{
			name:   "empty cmdline omits -append",
			cfg:    func(c vmm.Config) vmm.Config { c.Cmdline = ""; return c },
			accel:  "tcg",
			absent: []string{"-append"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv := Args(tt.cfg(base), tt.accel)
			for flag, want := range tt.checks {
				if got := pairs(argv, flag); !slices.Equal(got, want) {
					t.Errorf("%s values = %q, want %q", flag, got, want)
				}
			}
			for _, flag := range tt.absent {
				if slices.Contains(argv, flag) {
					t.Errorf("argv has %s: %q", flag, argv)
				}
			}
			for _, flag := range []string{"-nodefaults", "-no-user-config", "-no-reboot"} {
				if !slices.Contains(argv, flag) {
					t.Errorf("argv lacks %s: %q", flag, argv)
				}
			}
			if got := pairs(argv, "-display"); !slices.Equal(got, []string{"none"}) {
				t.Errorf("-display = %q, want [none]", got)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	good := vmm.Config{
		ID: "v", Kernel: "/k", VCPUs: 1, MemoryMiB: 256,
		Dir: "/run/v", ConsoleLog: "/run/v/console", AgentSocket: "/run/v/agent.sock",
	}
	tests := []struct {
		name    string
		mut     func(*vmm.Config)
		accel   string
		wantErr string
	}{
		{"ok", func(*vmm.Config) {}, "tcg", ""},
		{"bad accel", func(*vmm.Config) {}, "hvf", "accel"},
		{"no kernel", func(c *vmm.Config) { c.Kernel = "" }, "kvm", "kernel"},
		{"zero vcpus", func(c *vmm.Config) { c.VCPUs = 0 }, "kvm", "vcpus"},
		{"zero memory", func(c *vmm.Config) { c.MemoryMiB = 0 }, "kvm", "memory"},
		{"long socket", func(c *vmm.Config) { c.AgentSocket = "/" + strings.Repeat("a", 120) }, "kvm", "socket path"},
		{"bad format", func(c *vmm.Config) { c.Disks = []vmm.Disk{{Path: "/d", Format: "vmdk"}} }, "kvm", "format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good
			tt.mut(&c)
			err := validate(c, tt.accel)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("validate = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("validate = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestHostTSCKHz(t *testing.T) {
	tests := []struct {
		name    string
		cpuinfo string
		want    int
	}{
		{"vm with constant tsc", "processor\t: 0\ncpu MHz\t\t: 2596.128\nflags\t\t: fpu tsc constant_tsc hypervisor tsc_known_freq\n", 2596128},
		{"bare metal with aperfmperf", "cpu MHz\t\t: 1200.000\nflags\t\t: constant_tsc aperfmperf\n", 0},
		{"no constant tsc", "cpu MHz\t\t: 2000.000\nflags\t\t: fpu tsc\n", 0},
		{"no cpu MHz", "flags\t\t: constant_tsc\n", 0},
		{"garbage MHz", "cpu MHz\t: fast\nflags\t: constant_tsc\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hostTSCKHz([]byte(tt.cpuinfo)); got != tt.want {
				t.Fatalf("hostTSCKHz = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestWithTSCHint(t *testing.T) {
	tests := []struct {
		cmdline string
		khz     int
		want    string
	}{
		{"console=ttyS0", 2000000, "console=ttyS0 tsc_early_khz=2000000 tsc=reliable"},
		{"", 1000, "tsc_early_khz=1000 tsc=reliable"},
		{"console=ttyS0", 0, "console=ttyS0"},
		{"console=ttyS0 tsc_early_khz=5", 1000, "console=ttyS0 tsc_early_khz=5"},
		{"console=ttyS0 -- single", 1000, "console=ttyS0 tsc_early_khz=1000 tsc=reliable -- single"},
		{"-- single", 1000, "tsc_early_khz=1000 tsc=reliable -- single"},
	}
	for _, tt := range tests {
		if got := withTSCHint(tt.cmdline, tt.khz); got != tt.want {
			t.Errorf("withTSCHint(%q, %d) = %q, want %q", tt.cmdline, tt.khz, got, tt.want)
		}
	}
}
