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
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	c := api.NewClient(a.cfg.SocketPath())
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := c.Ping(ctx); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("bangerd exited at start (%v); see %s", err, a.cfg.LogPath())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("bangerd did not answer on %s within 15s; see %s", a.cfg.SocketPath(), a.cfg.LogPath())
}

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
			if err := a.loadConfig(); err != nil {
				return err
			}
			c := api.NewClient(a.cfg.SocketPath())
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
			for i := 0; i < 100; i++ {
				if syscall.Kill(p.PID, 0) != nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			fmt.Fprintf(a.stdout, "bangerd stopped (pid %d)\n", p.PID)
			return nil
		},
	}, &cobra.Command{
		Use:   "status",
		Short: "Say whether bangerd runs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.loadConfig(); err != nil {
				return err
			}
			p, err := api.NewClient(a.cfg.SocketPath()).Ping(cmd.Context())
			if err != nil {
				fmt.Fprintf(a.stdout, "bangerd is not running (%v)\n", err)
				return &ExitError{Code: 3}
			}
			fmt.Fprintf(a.stdout, "bangerd running, version %s, pid %d, socket %s, log %s\n", p.Version, p.PID, p.Socket, a.cfg.LogPath())
			return nil
		},
	})
	return cmd
}
