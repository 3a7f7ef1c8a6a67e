package qemu

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"banger/internal/vmm"
)

// Sandbox is QEMU's seccomp filter for a VM whose QEMU starts as an
// unprivileged user: no obsolete system calls, no set*id, no fork or exec,
// no scheduler or resource-limit changes.
const Sandbox = "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

// SandboxRunAs is Sandbox for a QEMU that drops root with -runas. QEMU 7.2
// installs the filter before it drops (at the end of its setup), so with
// elevateprivileges=deny its own setgid is refused and it dies of SIGSYS
// (seen on this host). After the drop the process has no capabilities,
// so the kernel refuses every set*id to another id, and the filter's
// no_new_privs (set whatever the options) keeps a set-uid program from
// giving root back; exec is denied anyway (spawn=deny).
const SandboxRunAs = "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny"

var (
	_ vmm.TapOwner = (*QEMU)(nil)
	_ vmm.TapOwner = (*Accelerated)(nil)
)

// jail says how QEMU drops its privileges.
type jail struct {
	// runAs runs each VM's QEMU as vmm.GuestUID(uidBase, cfg) with
	// -runas; it takes a root daemon.
	runAs   bool
	uidBase int
}

// defaultJail drops root whenever the daemon has it.
func defaultJail(uidBase int) jail {
	if uidBase <= 0 {
		uidBase = vmm.DefaultUIDBase
	}
	return jail{runAs: os.Geteuid() == 0, uidBase: uidBase}
}

// uid is the uid cfg's QEMU runs as, 0 when it keeps the daemon's.
func (j jail) uid(cfg vmm.Config) int {
	if !j.runAs {
		return 0
	}
	return vmm.GuestUID(j.uidBase, cfg)
}

// JailArgs are the arguments that confine cfg's QEMU: the seccomp sandbox
// and, when it runs as a uid of its own, -runas uid:gid. QEMU opens every
// file, device, tap and socket of its command line as root first, then
// drops to the uid just before the guest runs; so the VM's files stay
// root's, mode 0600 in 0700 directories, and the uid can open none of them
// (nor any other VM's) by path: it keeps only the descriptors it holds.
func JailArgs(uid int) []string {
	if uid <= 0 {
		return []string{"-sandbox", Sandbox}
	}
	id := strconv.Itoa(uid)
	return []string{"-sandbox", SandboxRunAs, "-runas", id + ":" + id}
}

// TapOwner implements vmm.TapOwner: the uid cfg's QEMU runs as owns its
// tap, so that no other VM's QEMU may attach to it.
func (q *QEMU) TapOwner(cfg vmm.Config) int { return q.jail.uid(cfg) }

// TapOwner implements vmm.TapOwner.
func (a *Accelerated) TapOwner(cfg vmm.Config) int { return a.byAccel["tcg"].TapOwner(cfg) }

// restrict makes cfg's own files root's alone before QEMU opens them: the
// runtime dir 0700, the writable disks and the console log 0600 (qemu-img
// and mkfs leave 0644). Read-only disks are a template's, shared by its
// clones, and stay as they are. Only regular files are touched.
func restrict(cfg vmm.Config) error {
	if err := os.Chmod(cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("restrict runtime dir: %w", err)
	}
	paths := []string{cfg.ConsoleLog}
	for _, d := range cfg.Disks {
		if !d.ReadOnly {
			paths = append(paths, d.Path)
		}
	}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if errors.Is(err, os.ErrNotExist) || err == nil && !fi.Mode().IsRegular() {
			continue
		}
		if err == nil {
			err = os.Chmod(p, 0o600)
		}
		if err != nil {
			return fmt.Errorf("restrict %s: %w", p, err)
		}
	}
	return nil
}
