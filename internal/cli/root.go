// Package cli is the banger command line. Every command is a thin client of
// bangerd's API, except doctor, which inspects the host directly.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/buildinfo"
	"banger/internal/config"
	"banger/internal/termtext"
	"banger/internal/vmm"
)

// ExitError carries an exit code out of a command (the guest command's).
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// app is the state shared by the commands of one invocation.
type app struct {
	configPath string
	host       string // --host: a remote daemon (see remote.go)
	cfg        *config.Config
	stdout     io.Writer
	stderr     io.Writer
	stdin      io.Reader
	getenv     func(string) string
	backends   *vmm.Registry
	// start starts the daemon when none answers; nil means startDaemon.
	// Tests set it so that they never start a real bangerd.
	start func(context.Context) error
	// sigs, when set, replaces Ctrl-C and SIGTERM for the commands that
	// follow an operation (tests).
	sigs chan os.Signal
}

func (a *app) loadConfig() error {
	if a.cfg != nil {
		return nil
	}
	cfg, _, err := config.Load(a.configPath, a.getenv, a.backends)
	if err != nil {
		return err
	}
	a.cfg = cfg
	return nil
}

// client returns an API client, starting the daemon when it is not running.
func (a *app) client(ctx context.Context) (*api.Client, error) {
	c, remote, err := a.configuredClient()
	if err != nil || remote {
		return c, err
	}
	if _, err := c.Ping(ctx); err == nil {
		return c, nil
	} else if errors.Is(err, fs.ErrPermission) {
		return nil, socketDenied(a.cfg.SocketPath())
	} else if !errors.Is(err, api.ErrDaemonUnreachable) {
		return nil, err
	}
	start := a.start
	if start == nil {
		start = a.startDaemon
	}
	if err := start(ctx); err != nil {
		return nil, err
	}
	return newClient(a.cfg.SocketPath())
}

// Main runs the CLI with the VMM backends of reg and returns the process
// exit code.
func Main(ctx context.Context, args []string, reg *vmm.Registry) int {
	a := &app{stdout: os.Stdout, stderr: os.Stderr, stdin: os.Stdin, getenv: os.Getenv, backends: reg}
	return a.main(ctx, args)
}

// main runs one invocation and returns its exit code: the guest command's
// for an ExitError, else 1 after printing the error.
func (a *app) main(ctx context.Context, args []string) int {
	root := a.rootCmd()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	// Errors may quote a guest (command output, agent messages).
	fmt.Fprintln(a.stderr, "banger:", termtext.Text(err.Error()))
	return 1
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "banger",
		Short: "Disposable development microVMs in one command",
		Long: "banger gives you a disposable development machine in one command: a real VM with\n" +
			"its own kernel, root access and networking, as fast to start as a container.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.configPath, "config", "", "config file (default $BANGER_CONFIG, /etc/banger/config.toml as root, else ~/.config/banger/config.toml)")
	root.AddCommand(a.vmCmd(), a.imageCmd(), a.kernelCmd(), a.daemonCmd(), a.doctorCmd(), a.sshConfigCmd(), a.opsCmd())
	root.AddCommand(a.versionCmd(), a.uiCmd())
	root.PersistentFlags().StringVarP(&a.host, "host", "H", "", "the daemon to talk to, ssh://[user@]host[:port] (default $BANGER_HOST; empty: the local daemon)")
	root.AddCommand(a.systemCmd(), a.contextCmd(), a.kubeCmd())
	root.Version = buildinfo.Read(buildinfo.Version).Version // --version; `banger version` says more
	root.SetOut(a.stdout)                                    // help and shell completion
	root.SetErr(a.stderr)
	a.addCompletions(root)
	return root
}
