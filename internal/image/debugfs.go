package image

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"strings"
	"time"

	"banger/internal/image/oci"
)

// debugfsWait bounds one read-only look into an image with debugfs.
const debugfsWait = 30 * time.Second

// debugfsMax bounds what is read of debugfs's answer.
const debugfsMax = 64 << 10

// debugfs runs one read-only debugfs request on the ext4 image rootfs and
// returns what it printed; found is false when debugfs is not installed,
// ok false when it failed.
func debugfs(ctx context.Context, rootfs, request string) (out []byte, found, ok bool) {
	if _, err := exec.LookPath("debugfs"); err != nil {
		return nil, false, false
	}
	ctx, cancel := context.WithTimeout(ctx, debugfsWait)
	defer cancel()
	cmd := exec.CommandContext(ctx, "debugfs", "-R", request, rootfs)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, true, false
	}
	if err := cmd.Start(); err != nil {
		return nil, true, false
	}
	out, rerr := io.ReadAll(io.LimitReader(stdout, debugfsMax))
	_, _ = io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil || rerr != nil {
		return nil, true, false
	}
	return out, true, true
}

// detectInit reports oci.AgentInit when the ext4 records it in
// oci.InitRecord (a bundled container image without systemd), so its VMs
// boot the agent as PID 1. Only that value is taken from the image: its
// content never reaches the kernel command line. debugfs only reads the
// file; without debugfs the default init is assumed.
func detectInit(ctx context.Context, rootfs string) string {
	out, _, ok := debugfs(ctx, rootfs, "cat "+oci.InitRecord)
	if !ok || strings.TrimSpace(string(out)) != oci.AgentInit {
		return ""
	}
	return oci.AgentInit
}

// HasSystemd says whether the ext4 image rootfs has systemd
// (/lib/systemd/systemd); true when it cannot tell (no debugfs), so the
// boot, not this check, has the last word.
func HasSystemd(ctx context.Context, rootfs string) bool {
	out, found, _ := debugfs(ctx, rootfs, "stat /lib/systemd/systemd")
	return !found || bytes.Contains(out, []byte("Inode:"))
}
