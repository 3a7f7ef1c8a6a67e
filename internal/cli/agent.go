package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/termtext"
)

func (a *app) vmPortsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ports VM",
		Short: "List the TCP and UDP ports listening in a VM (from its guest agent)",
		Args:  cobra.ExactArgs(1),
	}
	list := func(ctx context.Context, c *api.Client, args []string) ([]api.Port, error) {
		return c.Ports(ctx, args[0])
	}
	return listCmd(a, cmd, list, []string{"PROTO", "ADDRESS", "PORT", "PID", "PROCESS"}, func(p api.Port) []string {
		return []string{p.Proto, p.Address, fmt.Sprint(p.Port), fmt.Sprint(p.PID), p.Process}
	})
}

func (a *app) vmStatsCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "stats VM",
		Short: "Show a VM's load, memory and disk use (from its guest agent)",
		Args:  cobra.ExactArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, args []string) error {
			st, err := c.Stats(ctx, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSONOut(a.stdout, st)
			}
			fmt.Fprintf(a.stdout, "host:    %s, up %.0fs\n", termtext.Field(st.Hostname), st.UptimeSeconds)
			fmt.Fprintf(a.stdout, "load:    %.2f %.2f %.2f\n", st.Load1, st.Load5, st.Load15)
			fmt.Fprintf(a.stdout, "memory:  %s available of %s\n", humanBytes(st.MemAvailable), humanBytes(st.MemTotal))
			for _, d := range st.Disks {
				fmt.Fprintf(a.stdout, "disk %s: %s free of %s\n", termtext.Field(d.Path), humanBytes(d.Free), humanBytes(d.Total))
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// humanBytes renders n in binary units with one decimal, e.g. "1.5 GiB".
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
