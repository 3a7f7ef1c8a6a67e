package firecracker

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"banger/internal/agent"
	"banger/internal/vmm"
	"banger/internal/vmm/vmlinux"
	"banger/internal/vmm/vsock"
)

// AgentPort is the guest vsock port the banger agent listens on under
// Firecracker.
const AgentPort uint32 = agent.VsockPort

var (
	_ vmm.RootDisker    = (*Firecracker)(nil)
	_ vmm.KernelAdapter = (*Firecracker)(nil)
	_ vmm.TapOwner      = (*Firecracker)(nil)
	_ vmm.AgentDialer   = (*Firecracker)(nil)
	_ vmm.SSHDialer     = (*Firecracker)(nil)
)

// DialAgent implements vmm.AgentDialer: the guest agent listens on vsock
// port AgentPort behind Firecracker's vsock unix socket.
func (f *Firecracker) DialAgent(ctx context.Context, socket string) (net.Conn, error) {
	return vsock.Dial(ctx, socket, AgentPort)
}

// DialSSH implements vmm.SSHDialer: the agent serves SSH on vsock port
// agent.SSHVsockPort behind the same vsock unix socket; every connection
// there is an SSH connection of its own.
func (f *Firecracker) DialSSH(ctx context.Context, agentSocket, _ string) (net.Conn, error) {
	return vsock.Dial(ctx, agentSocket, agent.SSHVsockPort)
}

// Kernel implements vmm.KernelAdapter: Firecracker on x86_64 boots an
// uncompressed ELF vmlinux. It is extracted once, next to the kernel.
func (f *Firecracker) Kernel(ctx context.Context, kernel string) (string, error) {
	comp, err := vmlinux.Compression(kernel)
	if err != nil {
		return "", err
	}
	if comp == "elf" {
		return kernel, nil
	}
	dst := filepath.Join(filepath.Dir(kernel), "vmlinux")
	src, err := os.Stat(kernel)
	if err != nil {
		return "", fmt.Errorf("kernel for firecracker: %w", err)
	}
	if st, err := os.Stat(dst); err == nil && !st.ModTime().Before(src.ModTime()) {
		return dst, nil
	}
	if err := vmlinux.Extract(kernel, dst); err != nil {
		return "", err
	}
	return dst, nil
}

// TapOwner implements vmm.TapOwner: a jailed Firecracker runs as a uid of
// its own and must be able to open its tap.
func (f *Firecracker) TapOwner(cfg vmm.Config) int {
	if !f.jailed {
		return 0
	}
	return JailUID(f.uidBase, cfg)
}
