package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"banger/internal/api"
	"banger/internal/remote"
	"banger/internal/shquote"
)

// hostEnv names the remote daemon when --host is not given.
const hostEnv = "BANGER_HOST"

// remoteHost is the daemon host of --host, else $BANGER_HOST, else the
// current context; ok is false for the local daemon.
func (a *app) remoteHost() (h remote.Host, ok bool, err error) {
	s := a.host
	if s == "" && a.getenv != nil {
		s = a.getenv(hostEnv)
	}
	if s == "" {
		return a.contextHost()
	}
	h, err = remote.Parse(s)
	if err != nil {
		return remote.Host{}, false, err
	}
	return h, true, nil
}

// remoteClient is a client of the daemon on h: every connection is an
// `ssh h banger system dial-stdio`. A remote daemon is never started.
func (a *app) remoteClient(h remote.Host) *api.Client {
	return api.NewDialClient(h.String(), func(ctx context.Context) (net.Conn, error) {
		return remote.Dial(ctx, h, a.stderr)
	})
}

// remoteSSH runs `banger vm ssh NAME [-- command]` on h through the system
// ssh client, so that the VM's key and known_hosts stay on the daemon's
// machine, and returns the command's exit code. ssh's own failures (exit
// 255) become errors.
func (a *app) remoteSSH(h remote.Host, name string, command []string, o sshOpts) (int, error) {
	argv := []string{"banger", "vm", "ssh", name}
	if len(command) > 0 {
		argv = append(append(argv, "--"), command...)
	}
	opt := "-T"
	if (o.tty || len(command) == 0) && term.IsTerminal(int(os.Stdin.Fd())) {
		opt = "-t"
	}
	return a.runSSH(h.SSHArgs([]string{opt}, shquote.Join(argv...)), o, func() error {
		return fmt.Errorf("ssh to %s for VM %s failed (exit 255)", h, name)
	})
}

// systemCmd holds the commands other programs run: dial-stdio is what a
// remote client runs over ssh.
func (a *app) systemCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "system", Short: "Plumbing for remote clients", Hidden: true}
	cmd.AddCommand(&cobra.Command{
		Use:   "dial-stdio",
		Short: "Join stdin and stdout to the local bangerd's socket (what `banger --host ssh://...` runs on the host)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.loadConfig(); err != nil {
				return err
			}
			sock := a.cfg.SocketPath()
			if err := checkSocket(sock); err != nil {
				return err
			}
			err := remote.DialStdio(cmd.Context(), sock, a.stdin, a.stdout)
			if errors.Is(err, fs.ErrPermission) {
				return socketDenied(sock)
			}
			return err
		},
	})
	return cmd
}
