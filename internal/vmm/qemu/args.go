package qemu

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"banger/internal/vmm"
)

// File names QEMU creates in Config.Dir.
const (
	qmpSocketName = "qmp.sock"
	pidFileName   = "qemu.pid"
	logFileName   = "qemu.log"
	// sidecar listing the sockets to remove after the process is gone.
	socketsFileName = "qemu.sockets"
)

// AgentPortName is the virtio-serial port name of the guest agent channel;
// the guest sees it as /dev/virtio-ports/org.banger.agent.
const AgentPortName = "org.banger.agent"

// SSHPortName is the virtio-serial port of the agent's SSH channel
// (agent.SSHPortName), added when Config.SSHSocket is set.
const SSHPortName = "org.banger.ssh"

// QMPSocket is where Start puts the QMP socket for a VM runtime directory.
func QMPSocket(dir string) string { return filepath.Join(dir, qmpSocketName) }

// optEscape escapes a value for QEMU's comma-separated option syntax.
func optEscape(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// Args returns QEMU's argv (without the binary) for cfg under accel ("kvm"
// or "tcg"). It is pure: it neither checks nor touches any file.
func Args(cfg vmm.Config, accel string) []string {
	a := []string{
		"-name", "banger-" + optEscape(cfg.ID),
		"-M", "microvm,acpi=on,x-option-roms=off,rtc=on",
	}
	if accel == "kvm" {
		a = append(a, "-accel", "kvm", "-cpu", "host")
	} else {
		a = append(a, "-accel", accel, "-cpu", "max")
	}
	a = append(a,
		"-m", strconv.Itoa(cfg.MemoryMiB),
		"-smp", strconv.Itoa(cfg.VCPUs),
		"-nodefaults", "-no-user-config", "-display", "none",
		"-no-reboot",
		"-chardev", "file,id=con0,path="+optEscape(cfg.ConsoleLog)+",append=on",
		"-serial", "chardev:con0",
		"-kernel", cfg.Kernel,
	)
	if cfg.Initrd != "" {
		a = append(a, "-initrd", cfg.Initrd)
	}
	if cfg.Cmdline != "" {
		a = append(a, "-append", cfg.Cmdline)
	}
	for i, d := range cfg.Disks {
		format := d.Format
		if format == "" {
			format = "raw"
		}
		drive := fmt.Sprintf("id=disk%d,file=%s,format=%s,if=none,cache=writeback", i, optEscape(d.Path), format)
		if d.ReadOnly {
			drive += ",readonly=on"
		} else {
			// auto-read-only=off: the file keeps its read-write
			// descriptor when a migration makes the disk inactive
			// (a template's save) or active again (a clone's restore).
			// With QEMU's default (on) it reopens the file by path,
			// which QEMU, dropped to its own uid, may not do.
			drive += ",discard=unmap,auto-read-only=off"
		}
		a = append(a,
			"-drive", drive,
			"-device", fmt.Sprintf("virtio-blk-device,drive=disk%d", i),
		)
	}
	for i, n := range cfg.NICs {
		a = append(a,
			"-netdev", fmt.Sprintf("tap,id=net%d,ifname=%s,script=no,downscript=no", i, optEscape(n.Tap)),
			"-device", fmt.Sprintf("virtio-net-device,netdev=net%d,mac=%s", i, n.MAC),
		)
	}
	a = append(a,
		"-chardev", "socket,id=qmp,path="+optEscape(QMPSocket(cfg.Dir))+",server=on,wait=off",
		"-mon", "chardev=qmp,mode=control",
		"-pidfile", filepath.Join(cfg.Dir, pidFileName),
		"-device", "virtio-serial-device",
		"-chardev", "socket,id=agent,path="+optEscape(cfg.AgentSocket)+",server=on,wait=off",
		"-device", "virtserialport,chardev=agent,name="+AgentPortName,
	)
	if cfg.SSHSocket != "" {
		a = append(a,
			"-chardev", "socket,id=ssh,path="+optEscape(cfg.SSHSocket)+",server=on,wait=off",
			"-device", "virtserialport,chardev=ssh,name="+SSHPortName,
		)
	}
	return a
}
