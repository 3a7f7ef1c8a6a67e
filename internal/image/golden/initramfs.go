package golden

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"banger/internal/atomicfile"
	"banger/internal/initramfs"
	"banger/internal/rootfs"
)

// bootAgent makes the tree boot the agent as PID 1: it records
// rootfs.AgentInit in the image and replaces each kernel's initrd with
// banger's own initramfs (the agent and the microvm drivers), so neither
// Debian's initramfs-tools nor systemd is in a VM's boot path. systemd
// stays installed for whoever boots it (init=/sbin/init).
func bootAgent(tree, agentBinary string) error {
	root, err := os.OpenRoot(tree)
	if err != nil {
		return fmt.Errorf("opening rootfs: %w", err)
	}
	defer root.Close()
	if err := rootfs.RecordAgentInit(root); err != nil {
		return err
	}
	mods, err := rootfs.InitramfsModules()
	if err != nil {
		return fmt.Errorf("initramfs module list: %w", err)
	}
	kernels, err := filepath.Glob(filepath.Join(tree, "boot", "vmlinuz-*"))
	if err != nil {
		return err
	}
	if len(kernels) == 0 {
		return fmt.Errorf("no /boot/vmlinuz-* in the rootfs")
	}
	for _, k := range kernels {
		version := strings.TrimPrefix(filepath.Base(k), "vmlinuz-")
		var buf bytes.Buffer
		spec := initramfs.Spec{Init: agentBinary, ModulesDir: filepath.Join(tree, "lib", "modules", version), Modules: mods}
		if err := initramfs.Build(&buf, spec); err != nil {
			return fmt.Errorf("kernel %s: %w", version, err)
		}
		dst := filepath.Join(tree, "boot", "initrd.img-"+version)
		if err := atomicfile.WriteFrom(dst, &buf, 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", dst, err)
		}
	}
	return nil
}
