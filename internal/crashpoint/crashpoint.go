// Package crashpoint is a test-only hook that makes bangerd die abruptly
// (SIGKILL of itself: no deferred cleanup, no rollback) at a named step of
// an operation, so that an end-to-end test can prove that a restarted
// daemon leaves nothing behind whatever step a crash hits.
//
// The step comes from the environment variable Env, read once when the
// daemon starts; without it the hook does nothing.
package crashpoint

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
)

// Env names the step to crash at, e.g. BANGER_CRASH_AT=start.net.
const Env = "BANGER_CRASH_AT"

// The named steps. Each sits between two host-visible effects of an
// operation, where a crash leaves the most half-done work.
const (
	CreateRow      = "create.row"      // VM row and dir recorded, no disks
	CreateRootDisk = "create.rootdisk" // root disk made, not recorded
	CreateWorkDisk = "create.workdisk" // both disks made, create not finished
	StartIntent    = "start.intent"    // run recorded as an intent, nothing made
	StartNet       = "start.net"       // tap, firewall and NAT rules made, no VMM
	StartVMM       = "start.vmm"       // VMM running, its handles not recorded
	StartHandles   = "start.handles"   // handles recorded, guest not ready
	StopHalted     = "stop.halted"     // VMM gone, tap and NAT rules still there
	StopDetached   = "stop.detached"   // network removed, state not updated
	DeleteHalted   = "delete.halted"   // VMM gone, row and files still there
	DeleteRow      = "delete.row"      // row gone, files still there
	ImageStaged    = "image.staged"    // image files staged in scratch space
	ImagePlaced    = "image.placed"    // image dir in place, no row
	BuildPlaced    = "build.placed"    // built kernel and image dirs in place, no rows
)

// Steps returns every step, in the order of the operations above.
func Steps() []string {
	return []string{CreateRow, CreateRootDisk, CreateWorkDisk, StartIntent, StartNet, StartVMM, StartHandles,
		StopHalted, StopDetached, DeleteHalted, DeleteRow, ImageStaged, ImagePlaced, BuildPlaced}
}

// Hook crashes the process at one step. The zero Hook never crashes.
type Hook struct {
	step string
	exit func()
}

// Parse returns the hook for step ("" for none); an unknown step is an
// error, so that a typo in a test does not silently crash nowhere.
func Parse(step string) (Hook, error) {
	step = strings.TrimSpace(step)
	if step == "" {
		return Hook{}, nil
	}
	if !slices.Contains(Steps(), step) {
		return Hook{}, fmt.Errorf("%s=%q: unknown step; use one of %s", Env, step, strings.Join(Steps(), ", "))
	}
	return Hook{step: step, exit: kill}, nil
}

// WithExit returns h calling exit instead of killing the process (tests).
func (h Hook) WithExit(exit func()) Hook {
	if h.step != "" {
		h.exit = exit
	}
	return h
}

// Step is the step h crashes at, "" for none.
func (h Hook) Step() string { return h.step }

// At crashes when step is h's step.
func (h Hook) At(step string) {
	if h.step != "" && h.step == step {
		h.exit()
	}
}

// kill ends the process at once, as a power cut or `kill -9` would.
func kill() {
	fmt.Fprintf(os.Stderr, "bangerd: %s: crashing on purpose\n", Env)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	os.Exit(137) // not reached
}
