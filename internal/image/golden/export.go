package golden

// CustomizeRootfs turns an unpacked root filesystem tree into a banger image
// in place: it installs the agent binary and its units, the network and
// host-key units, the sshd drop-ins, fstab, hosts and identity files, masks
// slow units and drops package caches (the same step the golden build runs
// after debootstrap). Every path is resolved inside rootfs; symlinks in the
// tree are never followed out of it. The tree must contain /etc/shadow.
func CustomizeRootfs(rootfs, agentBinary string) error {
	return customize(rootfs, agentBinary)
}
