package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"

	"golang.org/x/term"

	"banger/internal/api"
	"banger/internal/shquote"
)

// sshArgs builds the system ssh client's argv for a target. The command's
// arguments are quoted for the remote shell one by one, so they arrive as
// given. A non-empty proxy is the ProxyCommand that reaches a VM over its
// agent (see proxyCommand); the host key is then checked under the same
// alias, against the key the agent reported.
func sshArgs(t api.SSHTarget, proxy string, tty bool, command []string) []string {
	args := []string{
		"-i", t.KeyPath,
		"-o", "IdentitiesOnly=yes",
		"-o", "UserKnownHostsFile=" + t.KnownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "StrictHostKeyChecking=yes",
		"-o", "HostKeyAlias=" + t.HostKeyAlias,
		"-o", "HostKeyAlgorithms=ssh-ed25519",
		"-o", "PasswordAuthentication=no",
		"-o", "LogLevel=ERROR",
		"-o", "ConnectTimeout=15",
		"-o", "ServerAliveInterval=15",
		"-p", strconv.Itoa(t.Port),
	}
	if proxy != "" {
		args = append(args, "-o", "ProxyCommand="+proxy)
	}
	if tty {
		args = append(args, "-t")
	} else if len(command) > 0 {
		args = append(args, "-T")
	}
	args = append(args, t.User+"@"+t.Host)
	if len(command) > 0 {
		args = append(args, "--", shquote.Join(command...))
	}
	return args
}

// sshOpts adjust one ssh run.
type sshOpts struct {
	stdin  io.Reader // default: the CLI's stdin
	stdout io.Writer // default: the CLI's stdout
	tty    bool      // force a TTY (an interactive shell with a command)
}

// ssh runs the system ssh client against a VM and returns the remote exit
// code. ssh's own failures (exit 255) become errors. Without a command it
// opens an interactive shell.
func (a *app) ssh(ctx context.Context, c *api.Client, name string, command []string, o sshOpts) (int, error) {
	if h, ok, err := a.remoteHost(); err != nil || ok {
		if err != nil {
			return 0, err
		}
		return a.remoteSSH(h, name, command, o)
	}
	t, err := c.SSHTarget(ctx, name)
	if err != nil {
		return 0, err
	}
	proxy, err := a.proxyCommand(t)
	if err != nil {
		return 0, err
	}
	tty := (o.tty || len(command) == 0) && term.IsTerminal(int(os.Stdin.Fd()))
	return a.runSSH(sshArgs(t, proxy, tty, command), o, func() error {
		return fmt.Errorf("ssh to %s (%s) failed; if it reports a changed host key, the VM's identity changed: see `banger vm logs %s`", name, t.Host, name)
	})
}

// runSSH runs the system ssh client with args and o's streams, and returns
// the remote command's exit code; ssh's own failure (exit 255) is failed's
// error.
func (a *app) runSSH(args []string, o sshOpts, failed func() error) (int, error) {
	bin, err := exec.LookPath("ssh")
	if err != nil {
		return 0, fmt.Errorf("the ssh client is missing: apt-get install openssh-client")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = a.stdin, a.stdout, a.stderr
	if o.stdin != nil {
		cmd.Stdin = o.stdin
	}
	if o.stdout != nil {
		cmd.Stdout = o.stdout
	}
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() == 255 {
			return 255, failed()
		}
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("run ssh: %w", err)
	}
	return 0, nil
}
