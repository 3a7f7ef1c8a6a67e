package cli

import (
	"context"
	"errors"
	"fmt"

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
	header := []string{"KEY", "IMAGE", "VCPUS", "MEMORY", "INIT", "BACKEND", "CREATED"}
	return printList(a.stdout, snaps, false, header, func(s api.Snapshot) []string {
		init := s.Init
		if init == "" {
			init = "image's"
		}
		return []string{s.Key[:min(12, len(s.Key))], s.Image, fmt.Sprint(s.VCPUs), fmt.Sprintf("%d MiB", s.MemoryMiB), init, s.Backend, ago(s.Created)}
	})
}
