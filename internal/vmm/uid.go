package vmm

import (
	"fmt"
	"strconv"
	"strings"
)

// UIDBaseKey is the config key of the first uid of the range VMM processes
// run as (QEMU's -runas, Firecracker's jailer). The QEMU backend declares
// it; every backend reads it.
const UIDBaseKey = "vm_uid_base"

// DefaultUIDBase is UIDBaseKey's default: far above login users and the
// usual subordinate-id ranges of user namespaces (/etc/subuid starts at
// 100000 and grows by 65536 a user).
const DefaultUIDBase = 900_000_000

// maxUIDBase leaves room for 2^20 guest CIDs below the last valid uid
// (2^32-2; 2^32-1 is (uid_t)-1).
const maxUIDBase = 1<<32 - 2 - 1<<20

// GuestUID is the uid, and the gid of the same number, that a VM's VMM
// process runs as: base plus the VM's guest CID. The store keeps CIDs
// unique among VMs (3 and up), so no two VMs share a uid; a template,
// whose config has CID 0, runs as base itself. No /etc/passwd entry is
// needed: the ids are numeric.
func GuestUID(base int, cfg Config) int { return base + int(cfg.GuestCID) }

// ParseUIDBase parses a UIDBaseKey value ("" is the default).
func ParseUIDBase(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return DefaultUIDBase, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 65536 || n > maxUIDBase {
		return 0, fmt.Errorf("%s %q is not valid: give a number from 65536 to %d, e.g. %q", UIDBaseKey, s, maxUIDBase, strconv.Itoa(DefaultUIDBase))
	}
	return n, nil
}
