package rootfs

import (
	"fmt"
	"os"
	"strings"

	"banger/internal/initramfs"
)

// AgentInit is the init of images whose VMs boot the agent as PID 1: the
// kernel runs it (init=AgentInit), and it mounts, configures the network,
// serves and reaps itself (internal/guestinit). Container images without
// systemd boot this way, and so does banger's own Debian image.
const AgentInit = "/usr/local/bin/banger-agent"

// InitRecord names, inside the image, the file holding the init its VMs
// boot (AgentInit), so that a bundle of the image boots the same way after
// a catalog pull. Images that boot systemd have none.
const InitRecord = "/etc/banger/init"

// RecordAgentInit writes InitRecord naming AgentInit into the tree.
func RecordAgentInit(root *os.Root) error {
	if err := WriteFile(root, strings.TrimPrefix(InitRecord, "/"), 0o644, strings.NewReader(AgentInit+"\n")); err != nil {
		return fmt.Errorf("writing %s: %w", InitRecord, err)
	}
	return nil
}

// InitramfsModules are the modules banger's initramfs loads: what a
// microvm needs to reach its root disk, its network and the agent's ports
// (files/initramfs-modules).
func InitramfsModules() ([]string, error) {
	f, err := files.Open("files/initramfs-modules")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return initramfs.ReadModuleList(f)
}
