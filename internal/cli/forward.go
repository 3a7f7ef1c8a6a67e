package cli

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"banger/internal/api"
)

func (a *app) vmForwardCmd() *cobra.Command {
	var list bool
	cmd := &cobra.Command{
		Use:   "forward VM [HOST_ADDR:]HOST_PORT:GUEST_PORT",
		Short: "Forward a host port to a port of a VM until interrupted (Ctrl-C) or the VM stops",
		Example: "  banger vm forward dev 8080:80          # 127.0.0.1:8080 -> dev:80\n" +
			"  banger vm forward dev 0.0.0.0:3000:3000\n  banger vm forward --list",
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			if list {
				fs, err := c.ListForwards(cmd.Context())
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "VM\tLISTEN\tTARGET\tSINCE")
				for _, f := range fs {
					if len(args) > 0 && f.VM != args[0] {
						continue
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.VM, f.Listen, f.Target, ago(f.Started))
				}
				return tw.Flush()
			}
			if len(args) != 2 {
				return fmt.Errorf("usage: banger vm forward VM [HOST_ADDR:]HOST_PORT:GUEST_PORT (or --list)")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			err = c.Forward(ctx, args[0], api.ForwardRequest{Spec: args[1]}, func(f api.Forward) {
				fmt.Fprintf(a.stdout, "forwarding %s -> %s (%s); Ctrl-C to stop\n", f.Listen, f.Target, f.VM)
			})
			if ctx.Err() != nil && !errors.Is(cmd.Context().Err(), ctx.Err()) {
				return nil // interrupted: the daemon removes the forward
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&list, "list", false, "list the active forwards (of VM, if given)")
	return cmd
}
