package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// openTimeout bounds how long `banger ui` waits for the browser opener.
const openTimeout = 10 * time.Second

func (a *app) uiCmd() *cobra.Command {
	var noOpen bool
	cmd := &cobra.Command{
		Use:   "ui",
		Short: "Open the web dashboard (a one-time login link to bangerd's local UI)",
		Long: "ui asks bangerd for a one-time login link to its web UI (served on loopback at the\n" +
			"config's ui_addr, default 127.0.0.1:7878) and opens it with xdg-open when a desktop\n" +
			"session is there; it always prints the link. The link works once, within 2 minutes,\n" +
			"and logs the browser in as you. With --host (a remote daemon) the UI's address is tunnelled\n" +
			"here through ssh, on the same port, until Ctrl-C.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			c, err := a.client(ctx)
			if err != nil {
				return err
			}
			login, err := c.UILogin(ctx)
			if err != nil {
				return err
			}
			if h, remote, err := a.remoteHost(); err != nil {
				return err
			} else if remote {
				sctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
				defer stop()
				return a.remoteUI(sctx, h, login, !noOpen)
			}
			fmt.Fprintln(a.stdout, login.URL)
			if !noOpen && a.canOpen() {
				if err := openURL(ctx, login.URL); err != nil {
					fmt.Fprintf(a.stderr, "banger: could not open a browser (%v); open the link above\n", err)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&noOpen, "no-open", false, "only print the link")
	return cmd
}

// canOpen says whether a browser can be opened here: a desktop session
// and xdg-open.
func (a *app) canOpen() bool {
	if a.getenv("DISPLAY") == "" && a.getenv("WAYLAND_DISPLAY") == "" {
		return false
	}
	_, err := exec.LookPath("xdg-open")
	return err == nil
}

// openURL hands url to xdg-open (argv, no shell).
func openURL(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, openTimeout)
	defer cancel()
	return exec.CommandContext(ctx, "xdg-open", url).Run()
}
