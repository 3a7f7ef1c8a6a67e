package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/poll"
)

// bangerdPath finds the daemon binary: beside this executable, else on PATH.
func bangerdPath() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "bangerd")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	p, err := exec.LookPath("bangerd")
	if err != nil {
		return "", fmt.Errorf("bangerd not found beside banger or on PATH: run `make build` and use build/bin/banger")
	}
	return p, nil
}

func (a *app) startDaemon(ctx context.Context) error {
	bin, err := bangerdPath()
	if err != nil {
		return err
	}
	args := []string{}
	if a.configPath != "" {
		abs, err := filepath.Abs(a.configPath)
		if err != nil {
			return err
		}
		args = append(args, "--config", abs)
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start bangerd: %w", err)
	}
	waitErr := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		waitErr <- cmd.Wait()
		close(exited)
	}()
	c := api.NewClient(a.cfg.SocketPath())
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	err = poll.Until(wctx, 100*time.Millisecond, exited, func(ctx context.Context) (bool, error) {
		_, err := c.Ping(ctx)
		return err == nil, nil
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, poll.ErrExited):
		return fmt.Errorf("bangerd exited at start (%v); see %s", <-waitErr, a.cfg.LogPath())
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("bangerd did not answer on %s within 15s; see %s", a.cfg.SocketPath(), a.cfg.LogPath())
}

// stopWait bounds how long `daemon stop` waits for bangerd to exit: its
// drain (daemon.DrainTimeout + DrainGrace) and a little more.
const stopWait = 2*time.Minute + 20*time.Second

func (a *app) daemonCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "daemon", Short: "Start, stop or inspect bangerd"}
	cmd.AddCommand(&cobra.Command{
		Use:   "start",
		Short: "Start bangerd in the background (commands also start it on demand)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			p, err := c.Ping(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "bangerd running, pid %d, socket %s\n", p.PID, p.Socket)
			return nil
		},
	}, &cobra.Command{
		Use:   "stop",
		Short: "Stop bangerd; running VMs keep running and are found again at the next start",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, remote, err := a.configuredClient()
			if err != nil {
				return err
			}
			p, err := c.Ping(cmd.Context())
			if errors.Is(err, api.ErrDaemonUnreachable) {
				fmt.Fprintln(a.stdout, "bangerd is not running")
				return nil
			}
			if err != nil {
				return err
			}
			if err := c.Shutdown(cmd.Context()); err != nil {
				return err
			}
			if remote { // its pid is not ours to watch
				fmt.Fprintf(a.stdout, "bangerd on %s is stopping (pid %d there)\n", c.Socket, p.PID)
				return nil
			}
			// Wait for the process to go: it drains the operations in
			// flight first (up to 2 min, then 15 s for their rollback).
			wctx, cancel := context.WithTimeout(cmd.Context(), stopWait)
			defer cancel()
			_ = poll.Until(wctx, 100*time.Millisecond, nil, func(context.Context) (bool, error) {
				return syscall.Kill(p.PID, 0) != nil, nil
			})
			fmt.Fprintf(a.stdout, "bangerd stopped (pid %d)\n", p.PID)
			return nil
		},
	}, &cobra.Command{
		Use:   "status",
		Short: "Say whether bangerd runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, remote, err := a.configuredClient()
			if err != nil {
				return err
			}
			p, err := c.Ping(cmd.Context())
			if err != nil {
				fmt.Fprintf(a.stdout, "bangerd is not running (%v)\n", err)
				return &ExitError{Code: 3}
			}
			if remote {
				fmt.Fprintf(a.stdout, "bangerd running on %s, version %s, pid %d, socket %s\n", c.Socket, p.Version, p.PID, p.Socket)
				return nil
			}
			fmt.Fprintf(a.stdout, "bangerd running, version %s, pid %d, socket %s, log %s\n", p.Version, p.PID, p.Socket, a.cfg.LogPath())
			return nil
		},
	})
	return cmd
}
