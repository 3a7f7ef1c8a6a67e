package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/sshconfig"
)

// vmConnectCmd is the ssh ProxyCommand of VMs reached over their agent:
// it copies stdin to a new SSH connection in the VM and what comes back to
// stdout. --socket names the daemon's socket, so ssh's child needs no
// config lookup and never starts a daemon.
func (a *app) vmConnectCmd() *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "connect NAME",
		Short: "Carry an SSH connection to a VM's agent on stdin and stdout (the ssh ProxyCommand banger uses)",
		Long: "connect copies stdin to a new SSH connection served by the VM's agent, and its answers to stdout.\n" +
			"banger's ssh config and `banger vm ssh`/`exec`/`run` use it as ssh's ProxyCommand for VMs whose\n" +
			"agent serves SSH, so those VMs need no sshd and no network route.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// Ctrl-C reaches ssh's whole process group; ssh decides when
			// the connection ends, and then closes our stdin.
			signal.Ignore(os.Interrupt)
			c, err := a.connectClient(cmd.Context(), socket)
			if err != nil {
				return err
			}
			return a.connect(cmd.Context(), c, args[0])
		},
	}
	cmd.Flags().StringVar(&socket, "socket", "", "the daemon's socket (default: from the config; the daemon is not started)")
	return cmd
}

func (a *app) connectClient(ctx context.Context, socket string) (*api.Client, error) {
	if socket != "" {
		return newClient(socket)
	}
	return a.client(ctx)
}

// connect copies between stdin/stdout and the VM's stream until either
// side ends.
func (a *app) connect(ctx context.Context, c *api.Client, name string) error {
	stream, err := c.Connect(ctx, name)
	if err != nil {
		return err
	}
	defer stream.Close()
	done := make(chan struct{}, 2)
	go func() {
		_, _ = io.Copy(a.stdout, stream)
		done <- struct{}{}
	}()
	go func() {
		_, _ = io.Copy(stream, a.stdin)
		done <- struct{}{}
	}()
	<-done
	return nil
}

// proxyCommand is the ProxyCommand for t, or "" when t is reached over
// the network.
func (a *app) proxyCommand(t api.SSHTarget) (string, error) {
	if t.Via != api.ViaAgent {
		return "", nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the banger binary for ssh's ProxyCommand: %w", err)
	}
	return sshconfig.ProxyCommand(self, a.cfg.SocketPath(), t.VM), nil
}
