// Package vmm defines the interface every virtual machine monitor backend
// implements. Nothing above this package knows which VMM runs a VM.
package vmm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// Disk is a block device attached to the guest, in attach order
// (the first disk is /dev/vda, the second /dev/vdb, ...).
type Disk struct {
	Path     string // host file backing the disk
	Format   string // "raw" or "qcow2"
	ReadOnly bool
}

// NIC is a guest network interface backed by a host tap device.
type NIC struct {
	Tap string // host tap device name, already created and attached
	MAC string // guest MAC address, e.g. 52:54:00:12:34:56
}

// Config describes one VM for a backend.
type Config struct {
	ID        string // banger VM id, used to name files and processes
	Kernel    string // path to the kernel image
	Initrd    string // optional initrd path
	Cmdline   string // kernel command line
	Disks     []Disk
	NICs      []NIC
	VCPUs     int
	MemoryMiB int
	// Dir is a per-VM runtime directory the backend may create sockets in.
	Dir string
	// ConsoleLog receives the guest's serial console.
	ConsoleLog string
	// AgentSocket is the host side of the guest agent channel: a unix socket
	// the backend creates and connects to the guest agent.
	AgentSocket string
	// SSHSocket is the host side of the agent's SSH channel for backends
	// that offer it as a unix socket of its own (QEMU's org.banger.ssh
	// port); see SSHDialer.
	SSHSocket string
	// GuestCID is the vsock context id for backends that use vsock.
	GuestCID uint32
}

// Handle identifies a running VMM process. It is serialised into the VM's
// runtime handles file so a restarted daemon can find the process again.
type Handle struct {
	Backend   string `json:"backend"`
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"` // /proc/<pid>/stat field 22, guards against pid reuse
	Control   string `json:"control"`    // control socket (QMP, Firecracker API)
	Accel     string `json:"accel,omitempty"`
}

// State is the observed state of a VMM process.
type State string

const (
	StateRunning State = "running"
	StateStopped State = "stopped"
)

// ErrNotRunning is returned when an operation needs a live VMM process.
var ErrNotRunning = errors.New("vmm process is not running")

// VMM is one backend: QEMU, Firecracker.
type VMM interface {
	// Name is the backend's config name ("qemu", "firecracker").
	Name() string
	// Start launches the VM and returns once the VMM accepts control commands.
	// The process outlives the caller's context and the daemon.
	Start(ctx context.Context, cfg Config) (Handle, error)
	// Stop asks the guest to shut down and waits up to timeout, then kills it.
	Stop(ctx context.Context, h Handle, timeout time.Duration) error
	// Kill ends the VMM process at once.
	Kill(ctx context.Context, h Handle) error
	// Wait blocks until the process exits or ctx ends.
	Wait(ctx context.Context, h Handle) error
	// Status reports whether the process behind h is alive.
	Status(ctx context.Context, h Handle) (State, error)
}

// Backends make disks and kernels in their own formats, and may need taps
// owned by the user their VMM runs as. These interfaces are the
// capabilities a backend's VMM declares (Go interfaces it implements, with
// compile-time assertions in its package); the VM service uses them when a
// backend implements them and the defaults (the image's kernel as is, a
// root-owned tap, a plain unix socket to the agent) otherwise.

// RootDisker makes a VM's root disk from an image's raw rootfs, in dir, and
// returns it. Every backend implements it (QEMU: a qcow2 overlay;
// Firecracker: a device-mapper snapshot or a raw copy). The disk is size
// bytes large when that is more than the image (room the guest's agent
// grows / into at start; it is sparse, so it costs nothing until used),
// else as large as the image: a root disk never shrinks its image.
type RootDisker interface {
	PrepareRootDisk(ctx context.Context, image, dir string, size int64) (Disk, error)
}

// KernelAdapter turns an image's kernel into the form the backend boots,
// e.g. an uncompressed vmlinux extracted from a bzImage.
type KernelAdapter interface {
	Kernel(ctx context.Context, kernel string) (string, error)
}

// TapOwner names the uid that must own a VM's tap device.
type TapOwner interface {
	TapOwner(cfg Config) int
}

// AgentDialer connects to the guest agent through the backend's own
// channel (e.g. Firecracker's vsock socket and its CONNECT handshake); the
// default is a plain unix socket connection to Config.AgentSocket.
type AgentDialer interface {
	DialAgent(ctx context.Context, socket string) (net.Conn, error)
}

// SSHDialer is a backend that offers the guest agent's second channel,
// which carries SSH (agent.SSHPortName over virtio-serial, or vsock port
// agent.SSHVsockPort), and connects to it: agentSocket and sshSocket are
// the run's Config.AgentSocket and Config.SSHSocket, and the backend uses
// the one its channel is behind. A backend without it gives the guest no
// SSH channel; the daemon then reaches the guest's sshd over the network.
type SSHDialer interface {
	DialSSH(ctx context.Context, agentSocket, sshSocket string) (net.Conn, error)
}

// Preflighter checks, before anything is created for a VM, that the backend
// can run one now (its binary exists, the host has what it needs).
type Preflighter interface {
	Preflight(ctx context.Context) error
}

// ToolRequirer names the host programs the backend runs, so that a missing
// one is reported with its package before anything is created.
type ToolRequirer interface {
	RequiredTools() []string
}

// Snapshotter makes RAM templates and starts clones from them (see
// docs/snapshots.md). A template is a VM started with StartTemplate, whose
// guest RAM lives in a file under the template dir, booted until the guest
// has settled, then saved with Snapshot; its disks are then frozen and each
// clone runs on overlays over them (CloneDisk). Restore starts a clone.
type Snapshotter interface {
	// StartTemplate starts cfg like Start, with the guest's RAM in a file
	// under dir that Snapshot saves.
	StartTemplate(ctx context.Context, cfg Config, dir string) (Handle, error)
	// Snapshot pauses the template VM behind h, saves its device state
	// in dir and ends its process. The template's disks must not change
	// afterwards.
	Snapshot(ctx context.Context, h Handle, dir string) error
	// Restore starts a clone of the template in dir and returns once its
	// guest runs. cfg must have the template's machine (kernel, initrd,
	// command line, shape, devices in the same order); its disks are the
	// clone's own (overlays over the template's frozen ones), its taps,
	// sockets and runtime dir too.
	Restore(ctx context.Context, cfg Config, dir string) (Handle, error)
	// SnapshotKey says what a template of cfg depends on in the backend
	// (its binary and version, accelerator, machine arguments with the
	// per-VM paths left out): a template restores only under an equal key.
	SnapshotKey(ctx context.Context, cfg Config) (string, error)
	// CloneDisk makes a writable disk at path over the frozen base.
	CloneDisk(ctx context.Context, base Disk, path string) (Disk, error)
	// ResizedDisk tells the running guest that disk index of h has a new
	// size (a clone's work disk is not the template's).
	ResizedDisk(ctx context.Context, h Handle, index int, size int64) error
}

// MaxSocketPath is the longest path a unix socket address can hold.
const MaxSocketPath = 107

// Check rejects a Config no backend can start: one without a kernel,
// runtime dir, console log or agent socket, with no vCPUs or memory, or
// whose unix sockets (the agent's and the backend's own, named in sockets)
// have paths too long to bind. Backends add their own limits.
func (c Config) Check(sockets ...string) error {
	switch {
	case c.Kernel == "":
		return errors.New("no kernel")
	case c.Dir == "":
		return errors.New("no runtime dir")
	case c.ConsoleLog == "":
		return errors.New("no console log path")
	case c.AgentSocket == "":
		return errors.New("no agent socket path")
	case c.VCPUs <= 0:
		return fmt.Errorf("vcpus %d: must be positive", c.VCPUs)
	case c.MemoryMiB <= 0:
		return fmt.Errorf("memory %d MiB: must be positive", c.MemoryMiB)
	}
	if c.SSHSocket != "" {
		sockets = append(sockets, c.SSHSocket)
	}
	for _, p := range append(sockets, c.AgentSocket) {
		if len(p) > MaxSocketPath {
			return fmt.Errorf("socket path %s is %d bytes, longer than the %d a unix socket allows", p, len(p), MaxSocketPath)
		}
	}
	return nil
}
