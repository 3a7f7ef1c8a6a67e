package main

import (
	"log/slog"

	"banger/internal/guestfs"
)

// growRoot grows / into the room the host gave the root disk, before the
// agent answers, so a command run once the VM is ready sees it. A failure
// is logged; the guest works on with the smaller /.
func growRoot(log *slog.Logger) {
	if _, err := guestfs.GrowRoot(log); err != nil {
		log.Warn("root file system not grown", "err", err)
	}
}
