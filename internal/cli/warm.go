package cli

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"banger/internal/api"
)

// imageWarmCmd is `banger image warm NAME`: make the snapshot VMs of the
// image restore from; --list and --delete KEY manage the snapshots.
func (a *app) imageWarmCmd() *cobra.Command {
	var req api.WarmImage
	var listThem bool
	var del string
	cmd := &cobra.Command{
		Use:   "warm [NAME]",
		Short: "Snapshot a booted VM of an image so new VMs of it restore instead of booting (--list, --delete KEY)",
		Args:  cobra.MaximumNArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, args []string) error {
			switch {
			case listThem:
				return a.listSnapshots(ctx, c)
			case del != "":
				if err := c.DeleteSnapshot(ctx, del); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "deleted snapshot %s\n", del)
				return nil
			case len(args) != 1:
				return errors.New("name the image to warm (or give --list or --delete KEY)")
			}
			s, _, err := followOp(ctx, a, c, false, func(ctx context.Context, onEvent func(api.Event)) (api.Snapshot, error) {
				return c.WarmImage(ctx, args[0], req, onEvent)
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "snapshot %s of %s: %d vCPUs, %d MiB\n", s.Key, s.Image, s.VCPUs, s.MemoryMiB)
			return nil
		}),
	}
	cmd.Flags().IntVar(&req.VCPUs, "vcpu", 0, "vCPUs of the VMs that will restore it (default: the VM default)")
	cmd.Flags().IntVar(&req.MemoryMiB, "memory", 0, "memory in MiB of the VMs that will restore it (default: the VM default)")
	cmd.Flags().StringVar(&req.Init, "init", "", "the init of the VMs that will restore it: agent or systemd (default: the image's)")
	cmd.Flags().BoolVar(&listThem, "list", false, "list the snapshots")
	cmd.Flags().StringVar(&del, "delete", "", "delete the snapshot with this key (or a unique prefix of it)")
	return cmd
}

func (a *app) listSnapshots(ctx context.Context, c *api.Client) error {
	snaps, err := c.ListSnapshots(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "KEY\tIMAGE\tVCPUS\tMEMORY\tINIT\tBACKEND\tCREATED")
	for _, s := range snaps {
		init := s.Init
		if init == "" {
			init = "image's"
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%d MiB\t%s\t%s\t%s\n", s.Key[:min(12, len(s.Key))], s.Image, s.VCPUs, s.MemoryMiB, init, s.Backend, ago(s.Created))
	}
	return w.Flush()
}
