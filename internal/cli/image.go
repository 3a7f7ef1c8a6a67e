package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/image/imageref"
	"banger/internal/units"
)

func (a *app) imageCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Build and manage images"}
	var force bool
	build := &cobra.Command{
		Use:   "build NAME",
		Short: "Build an image from its recipe (debian-bookworm: debootstrap from the Debian archive)",
		Args:  cobra.ExactArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, args []string) error {
			img, _, err := followOp(ctx, a, c, false, func(ctx context.Context, onEvent func(api.Event)) (api.Image, error) {
				return c.BuildImage(ctx, api.BuildImage{Name: args[0], Force: force}, onEvent)
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s %s\n", img.Name, units.FormatSize(img.SizeBytes))
			return nil
		}),
	}
	build.Flags().BoolVar(&force, "force", false, "rebuild even if the image exists (refused while a VM uses it)")
	list := catalogListCmd(a, "image", (*api.Client).ListImages, []string{"NAME", "KERNEL", "SIZE", "SOURCE", "CREATED"}, func(i api.Image) []string {
		return []string{i.Name, i.Kernel, units.FormatSize(i.SizeBytes), i.Source, ago(i.CreatedAt)}
	}, func(ctx context.Context, c *api.Client, asJSON bool) error {
		return a.printCatalog(ctx, c, true, asJSON)
	})
	show := showCmd(a, "Show one image", (*api.Client).GetImage, func(img api.Image) [][2]string {
		return [][2]string{{"name", img.Name}, {"id", img.ID}, {"kernel", img.Kernel}, {"rootfs", img.Rootfs},
			{"size", units.FormatSize(img.SizeBytes)}, {"source", img.Source}, {"init", img.Init},
			{"managed", fmt.Sprint(img.Managed)}}
	})
	del := deleteCmd(a, "delete", []string{"rm"}, "Delete images no VM uses", (*api.Client).DeleteImage)
	cmd.AddCommand(build, list, show, del, a.imagePullCmd(), a.imageRegisterCmd(), a.imagePromoteCmd(),
		a.imageCacheCmd(), a.bundleCmd("image"), a.imageWarmCmd())
	return cmd
}

func (a *app) kernelCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "kernel", Short: "Manage guest kernels"}
	list := catalogListCmd(a, "kernel", (*api.Client).ListKernels, []string{"NAME", "VERSION", "MANAGED", "PATH"}, func(k api.Kernel) []string {
		return []string{k.Name, k.Version, fmt.Sprint(k.Managed), k.Path}
	}, func(ctx context.Context, c *api.Client, asJSON bool) error {
		return a.printCatalog(ctx, c, false, asJSON)
	})

	show := showCmd(a, "Show one kernel", (*api.Client).GetKernel, func(k api.Kernel) [][2]string {
		return [][2]string{{"name", k.Name}, {"id", k.ID}, {"version", k.Version}, {"path", k.Path},
			{"initrd", k.Initrd}, {"managed", fmt.Sprint(k.Managed)}}
	})

	del := deleteCmd(a, "rm", []string{"delete"}, "Delete kernels no image uses", (*api.Client).DeleteKernel)

	cmd.AddCommand(list, show, a.kernelPullCmd(), del, a.kernelImportCmd(), a.bundleCmd("kernel"))
	return cmd
}

func (a *app) kernelPullCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "pull NAME",
		Short: "Download a kernel from the catalog (see `banger kernel list --available`)",
		Args:  cobra.ExactArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, args []string) error {
			k, err := streamed(a, func(onEvent func(api.Event)) (api.Kernel, error) {
				return c.PullKernel(ctx, api.PullKernel{Name: args[0]}, onEvent)
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s %s\n", k.Name, k.Version)
			return nil
		}),
	}
}

func (a *app) kernelImportCmd() *cobra.Command {
	var from string
	imp := &cobra.Command{
		Use:   "import NAME --from DIR",
		Short: "Copy a kernel into banger: DIR holds vmlinuz, vmlinux or bzImage, optionally initrd.img and modules/",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := absPath("--from", from)
			if err != nil {
				return err
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			k, err := c.ImportKernel(cmd.Context(), api.ImportKernel{Name: args[0], From: dir})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s %s %s\n", k.Name, k.Version, k.Path)
			return nil
		},
	}
	imp.Flags().StringVar(&from, "from", "", "directory holding the kernel (required)")
	_ = imp.MarkFlagRequired("from")
	return imp
}

// absPath makes a path given on the command line absolute: the daemon has
// its own working directory.
func absPath(flag, p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("%s is required", flag)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", flag, p, err)
	}
	return abs, nil
}

// pullRef makes a local path absolute (the daemon has its own working
// directory) and leaves catalog names and registry references alone.
func pullRef(ref string) string {
	if !imageref.Local(ref) {
		return ref
	}
	if abs, err := filepath.Abs(ref); err == nil {
		return abs
	}
	return ref
}

func (a *app) imagePullCmd() *cobra.Command {
	var name, size, kernel string
	var detach bool
	cmd := &cobra.Command{
		Use:   "pull REF",
		Short: "Install an image from the catalog, a registry (alpine:3.19), an OCI layout directory or a docker-archive file",
		Long: `Install an image. REF is looked up in the image catalog first
(banger image list --available); otherwise it is an OCI layout directory, a
docker-archive file (docker save -o img.tar) or a registry reference.

Container images boot with the default image's kernel unless --kernel names
another. A container image needs nothing beyond its root filesystem: one
whose /sbin/init is systemd boots systemd (banger's agent starts early, no
udev or sshd needed); any other (no init, busybox, alpine) boots banger's
agent as PID 1. Neither needs network access at first boot.`,
		Args: cobra.ExactArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, args []string) error {
			img, detached, err := followOp(ctx, a, c, detach, func(ctx context.Context, onEvent func(api.Event)) (api.Image, error) {
				return c.PullImage(ctx, api.PullImage{Ref: pullRef(args[0]), Name: name, Size: size, Kernel: kernel}, onEvent)
			})
			if err != nil || detached {
				return err
			}
			fmt.Fprintf(a.stdout, "%s %s (kernel %s)\n", img.Name, units.FormatSize(img.SizeBytes), img.Kernel)
			return nil
		}),
	}
	cmd.Flags().StringVar(&name, "name", "", "image name (default: derived from REF, e.g. alpine:3.19 -> alpine-3.19)")
	cmd.Flags().StringVar(&size, "size", "", "rootfs size of a container image, e.g. 4G (default: content x 1.5, at least 1G)")
	cmd.Flags().StringVar(&kernel, "kernel", "", "kernel to boot the image with (default: the catalog's, else the default image's)")
	cmd.Flags().BoolVar(&detach, "detach", false, "print the id of the pull's operation and return at once; `banger ops wait ID` follows it")
	return cmd
}

func (a *app) imageRegisterCmd() *cobra.Command {
	var req api.RegisterImage
	cmd := &cobra.Command{
		Use:   "register --name N --rootfs FILE (--kernel FILE [--initrd FILE] | --kernel-ref KERNEL)",
		Short: "Copy an ext4 file (and kernel) you own into banger's storage as an image; the originals are never read again nor deleted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if req.Rootfs, err = absPath("--rootfs", req.Rootfs); err != nil {
				return err
			}
			if (req.Kernel == "") == (req.KernelRef == "") {
				return fmt.Errorf("give either --kernel FILE or --kernel-ref NAME")
			}
			for _, f := range []struct {
				flag string
				p    *string
			}{{"--kernel", &req.Kernel}, {"--initrd", &req.Initrd}} {
				if *f.p != "" {
					if *f.p, err = absPath(f.flag, *f.p); err != nil {
						return err
					}
				}
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			img, err := c.RegisterImage(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s %s (kernel %s), copied into banger's storage: %s\n", img.Name, units.FormatSize(img.SizeBytes), img.Kernel, img.Rootfs)
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Name, "name", "", "image name (required)")
	cmd.Flags().StringVar(&req.Rootfs, "rootfs", "", "ext4 root filesystem file (required)")
	cmd.Flags().StringVar(&req.Kernel, "kernel", "", "kernel file (vmlinux or bzImage); registered as <name>-kernel")
	cmd.Flags().StringVar(&req.Initrd, "initrd", "", "initrd for --kernel")
	cmd.Flags().StringVar(&req.KernelRef, "kernel-ref", "", "name of a kernel banger knows (see `banger kernel list`)")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("rootfs")
	return cmd
}

func (a *app) imagePromoteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "promote NAME",
		Short: "Copy an image registered in place by an older banger (and its kernel) into banger's storage",
		Args:  cobra.ExactArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, args []string) error {
			img, err := streamed(a, func(onEvent func(api.Event)) (api.Image, error) {
				return c.PromoteImage(ctx, args[0], onEvent)
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s now managed: %s\n", img.Name, img.Rootfs)
			return nil
		}),
	}
}

func (a *app) imageCacheCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cache", Short: "Manage the download caches (OCI layers, catalog bundles)"}
	var dryRun, asJSON bool
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Remove cached OCI layers and catalog bundles (installed images do not need them)",
		Args:  cobra.NoArgs,
		RunE: a.withClient(func(ctx context.Context, c *api.Client, _ []string) error {
			rep, err := c.PruneImageCache(ctx, api.PruneCache{DryRun: dryRun})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSONOut(a.stdout, rep)
			}
			verb := "removed"
			if dryRun {
				verb = "would remove"
			}
			for _, f := range rep.Files {
				fmt.Fprintf(a.stdout, "%s %s (%s)\n", verb, f.Path, units.FormatSize(f.Bytes))
			}
			fmt.Fprintf(a.stdout, "%s %d files, %s\n", verb, len(rep.Files), units.FormatSize(rep.Bytes))
			return nil
		}),
	}
	prune.Flags().BoolVar(&dryRun, "dry-run", false, "only list what would be removed")
	prune.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(prune)
	return cmd
}

// bundleCmd is `image bundle` or `kernel bundle`.
func (a *app) bundleCmd(kind string) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "bundle NAME --out DIR",
		Short: "Write a catalog bundle of the " + kind + " and its catalog.json entry into DIR",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := absPath("--out", out)
			if err != nil {
				return err
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			bundle := c.BundleImage
			if kind == "kernel" {
				bundle = c.BundleKernel
			}
			b, err := bundle(cmd.Context(), args[0], api.BundleRequest{Out: dir})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s (%s, sha256 %s)\nentry: %s\n", b.File, units.FormatSize(b.SizeBytes), b.SHA256, b.EntryFile)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "output directory (required)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// printCatalog lists the catalog's images or kernels.
func (a *app) printCatalog(ctx context.Context, c *api.Client, images, asJSON bool) error {
	cat, err := c.Catalog(ctx)
	if err != nil {
		return err
	}
	if cat.Warning != "" {
		fmt.Fprintln(a.stderr, "warning: "+cat.Warning)
	}
	if asJSON {
		if images {
			return writeJSONOut(a.stdout, cat.Images)
		}
		return writeJSONOut(a.stdout, cat.Kernels)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	if images {
		fmt.Fprintln(tw, "NAME\tDISTRO\tKERNEL\tDOWNLOAD\tINSTALLED\tDESCRIPTION")
		for _, i := range cat.Images {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\n", i.Name, i.Distro, i.KernelRef, units.FormatSize(i.SizeBytes), i.Installed, i.Description)
		}
	} else {
		fmt.Fprintln(tw, "NAME\tVERSION\tDOWNLOAD\tINSTALLED")
		for _, k := range cat.Kernels {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", k.Name, k.Version, units.FormatSize(k.SizeBytes), k.Installed)
		}
	}
	return tw.Flush()
}
