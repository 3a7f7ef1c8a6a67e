package cli

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"banger/internal/sshconfig"
)

func (a *app) sshConfigCmd() *cobra.Command {
	var install, uninstall bool
	cmd := &cobra.Command{
		Use:   "ssh-config [--install | --uninstall]",
		Short: "Print banger's ssh config, or include it from ~/.ssh/config so that `ssh NAME.vm` works",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if install && uninstall {
				return fmt.Errorf("--install and --uninstall exclude each other")
			}
			if h, remote, err := a.remoteHost(); err != nil {
				return err
			} else if remote {
				// The VMs' key and pinned host keys are on the daemon's
				// machine; a client's ssh cannot log in with them.
				return fmt.Errorf("ssh-config is for the local daemon's VMs; for the VMs of %s use `banger --host %s vm ssh NAME`, or run ssh-config on that machine", h, h)
			}
			if err := a.loadConfig(); err != nil {
				return err
			}
			path := a.cfg.SSHConfigPath()
			home, err := os.UserHomeDir()
			if err != nil {
				return fmt.Errorf("find your home directory: %w", err)
			}
			user := filepath.Join(home, ".ssh", "config")
			switch {
			case install:
				changed, err := sshconfig.Install(user, path)
				if err != nil {
					return err
				}
				if changed {
					fmt.Fprintf(a.stdout, "added `Include %s` to %s; `ssh NAME.vm` now reaches banger VMs\n", path, user)
				} else {
					fmt.Fprintf(a.stdout, "%s already includes %s\n", user, path)
				}
			case uninstall:
				changed, err := sshconfig.Uninstall(user, path)
				if err != nil {
					return err
				}
				if changed {
					fmt.Fprintf(a.stdout, "removed banger's Include from %s\n", user)
				} else {
					fmt.Fprintf(a.stdout, "%s does not include banger's config\n", user)
				}
			default:
				b, err := os.ReadFile(path)
				if err != nil {
					return fmt.Errorf("read %s: %w (the daemon writes it once a VM exists)", path, err)
				}
				_, err = a.stdout.Write(b)
				return err
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&install, "install", false, "add an Include of banger's ssh config to ~/.ssh/config")
	cmd.Flags().BoolVar(&uninstall, "uninstall", false, "remove that Include again")
	return cmd
}
