package qemu

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"banger/internal/vmm"
)

// Files of a template dir that belong to the QEMU backend.
const (
	// templateMemName holds the template guest's RAM: the template maps it
	// shared (its writes land in the file), clones map it private
	// (copy-on-write, read lazily).
	templateMemName = "mem"
	// templateStateName is the migration stream: device state only with
	// x-ignore-shared, device state and RAM in stream mode.
	templateStateName = "state"
	// templateInfoName records how the state was saved.
	templateInfoName = "qemu-snapshot.json"
)

// TemplateArgs are the arguments StartTemplate adds to Args: the guest's
// RAM in dir/mem, mapped shared, so that the file holds it.
func TemplateArgs(cfg vmm.Config, dir string) []string {
	return memoryArgs(cfg, dir, true)
}

// RestoreArgs are the arguments Restore adds to Args: the template's RAM
// file mapped private (copy-on-write, so the file never changes and any
// number of clones share its pages), and an incoming migration started
// later over QMP.
func RestoreArgs(cfg vmm.Config, dir string) []string {
	return append(memoryArgs(cfg, dir, false), "-incoming", "defer")
}

func memoryArgs(cfg vmm.Config, dir string, share bool) []string {
	mode := "off"
	if share {
		mode = "on"
	}
	return []string{
		"-object", fmt.Sprintf("memory-backend-file,id=mem,size=%dM,mem-path=%s,share=%s",
			cfg.MemoryMiB, optEscape(filepath.Join(dir, templateMemName)), mode),
		"-machine", "memory-backend=mem",
	}
}

// machine is cfg without what differs from one VM to the next (its id,
// paths, taps and MACs): the part of the argv a template and its clones
// must share.
func machine(cfg vmm.Config) vmm.Config {
	m := cfg
	m.ID, m.Dir, m.ConsoleLog, m.AgentSocket, m.GuestCID = "", "", "", "", 0
	if m.SSHSocket != "" { // the port is part of the machine, its path is not
		m.SSHSocket = "ssh.sock"
	}
	m.Disks = make([]vmm.Disk, len(cfg.Disks))
	for i, d := range cfg.Disks {
		m.Disks[i] = vmm.Disk{Path: fmt.Sprintf("disk%d", i), Format: d.Format, ReadOnly: d.ReadOnly}
	}
	m.NICs = make([]vmm.NIC, len(cfg.NICs))
	for i := range cfg.NICs {
		m.NICs[i] = vmm.NIC{Tap: fmt.Sprintf("tap%d", i)}
	}
	return m
}

// snapshotKey hashes what a template depends on: the QEMU binary and its
// version, the accelerator and TSC hint, and the machine's argv.
func snapshotKey(binary, version, accel string, tscKHz int, cfg vmm.Config) string {
	m := machine(cfg)
	if accel == "tcg" {
		m.Cmdline = withTSCHint(m.Cmdline, tscKHz)
	}
	h := sha256.New()
	fmt.Fprintf(h, "qemu\x00%s\x00%s\x00%s\x00", binary, strings.TrimSpace(version), accel)
	fmt.Fprint(h, strings.Join(Args(m, accel), "\x00"))
	return hex.EncodeToString(h.Sum(nil))
}
