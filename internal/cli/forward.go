package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"banger/internal/api"
)

func (a *app) vmForwardCmd() *cobra.Command {
	var list bool
	cmd := &cobra.Command{
		Use:   "forward VM [HOST_ADDR:]HOST_PORT:GUEST_PORT",
		Short: "Forward a host port to a port of a VM until interrupted (Ctrl-C) or the VM stops",
		Long: "Forwards a port of this machine to a port of a VM. With --host (a remote daemon) the port is\n" +
			"on the client's machine and the traffic goes through ssh (-L) to the VM's address on the daemon's host.",
		Example: "  banger vm forward dev 8080:80          # 127.0.0.1:8080 -> dev:80\n" +
			"  banger vm forward dev 0.0.0.0:3000:3000\n  banger vm forward --list",
		RunE: a.withClient(func(parent context.Context, c *api.Client, args []string) error {
			if list {
				return a.printForwards(parent, c, args)
			}
			if len(args) != 2 {
				return fmt.Errorf("usage: banger vm forward VM [HOST_ADDR:]HOST_PORT:GUEST_PORT (or --list)")
			}
			ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
			defer stop()
			if h, remote, err := a.remoteHost(); err != nil {
				return err
			} else if remote {
				return a.remoteForward(ctx, c, h, args[0], args[1])
			}
			err := c.Forward(ctx, args[0], api.ForwardRequest{Spec: args[1]}, func(f api.Forward) {
				fmt.Fprintf(a.stdout, "forwarding %s -> %s (%s); Ctrl-C to stop\n", f.Listen, f.Target, f.VM)
			})
			if ctx.Err() != nil && !errors.Is(parent.Err(), ctx.Err()) {
				return nil // interrupted: the daemon removes the forward
			}
			return err
		}),
	}
	cmd.Flags().BoolVar(&list, "list", false, "list the active forwards (of VM, if given)")
	return cmd
}

// printForwards lists the active forwards, only those of args[0] when given.
func (a *app) printForwards(ctx context.Context, c *api.Client, args []string) error {
	fs, err := c.ListForwards(ctx)
	if err != nil {
		return err
	}
	var shown []api.Forward
	for _, f := range fs {
		if len(args) == 0 || f.VM == args[0] {
			shown = append(shown, f)
		}
	}
	return printList(a.stdout, shown, false, []string{"VM", "LISTEN", "TARGET", "SINCE"}, func(f api.Forward) []string {
		return []string{f.VM, f.Listen, f.Target, ago(f.Started)}
	})
}
