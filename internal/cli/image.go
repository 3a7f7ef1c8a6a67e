package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/config"
)

func (a *app) imageCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Build and manage images"}
	var force bool
	build := &cobra.Command{
		Use:   "build NAME",
		Short: "Build an image from its recipe (debian-bookworm: debootstrap from the Debian archive)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			pp := newProgress(a.stderr)
			img, err := c.BuildImage(cmd.Context(), api.BuildImage{Name: args[0], Force: force}, pp.event)
			pp.finish()
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s %s\n", img.Name, config.FormatSize(img.SizeBytes))
			return nil
		},
	}
	build.Flags().BoolVar(&force, "force", false, "rebuild even if the image exists (refused while a VM uses it)")
	var asJSON bool
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List images",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			imgs, err := c.ListImages(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSONOut(a.stdout, imgs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKERNEL\tSIZE\tSOURCE\tCREATED")
			for _, i := range imgs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", i.Name, i.Kernel, config.FormatSize(i.SizeBytes), i.Source, ago(i.CreatedAt))
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	var showJSON bool
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Show one image",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			img, err := c.GetImage(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if showJSON {
				return writeJSONOut(a.stdout, img)
			}
			fmt.Fprintf(a.stdout, "name:    %s\nid:      %s\nkernel:  %s\nrootfs:  %s\nsize:    %s\nsource:  %s\nmanaged: %v\n",
				img.Name, img.ID, img.Kernel, img.Rootfs, config.FormatSize(img.SizeBytes), img.Source, img.Managed)
			return nil
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")
	del := &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete an image no VM uses",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			if err := c.DeleteImage(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "deleted %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(build, list, show, del)
	return cmd
}

func (a *app) kernelCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "kernel", Short: "Inspect kernels"}
	var asJSON bool
	list := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List kernels",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			ks, err := c.ListKernels(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSONOut(a.stdout, ks)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tVERSION\tPATH")
			for _, k := range ks {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Name, k.Version, k.Path)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(list)
	return cmd
}
