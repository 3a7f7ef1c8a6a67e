package vm

import (
	"context"

	"banger/internal/image"
	"banger/internal/rootfs"
)

// What a VM boots as PID 1 (CreateRequest.Init, store.VM.Init).
const (
	InitImage   = ""        // the image's choice (rootfs.InitRecord)
	InitAgent   = "agent"   // banger-agent
	InitSystemd = "systemd" // the image's own /sbin/init
)

// validInit checks a requested init.
func validInit(init string) error {
	switch init {
	case InitImage, InitAgent, InitSystemd:
		return nil
	}
	return badRequest("--init %q: use %q (banger-agent as PID 1) or %q (the image's own /sbin/init)", init, InitAgent, InitSystemd)
}

// bootInit is the init= a VM of img asking for init boots: "" leaves the
// kernel's default, /sbin/init.
func bootInit(img image.Resolved, init string) string {
	switch init {
	case InitAgent:
		return rootfs.AgentInit
	case InitSystemd:
		return ""
	}
	return img.Image.Init
}

// checkInit refuses --init systemd for an image without systemd (a
// container image): its VM would not boot.
func checkInit(ctx context.Context, img image.Resolved, init string) error {
	if init != InitSystemd || img.Image.Init == "" || image.HasSystemd(ctx, img.Image.Rootfs) {
		return nil
	}
	return badRequest("image %s has no systemd (/lib/systemd/systemd): boot it with its default init, or --init %s", img.Image.Name, InitAgent)
}
