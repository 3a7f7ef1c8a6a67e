package cli

import (
	"context"

	"github.com/spf13/cobra"

	"banger/internal/api"
)

// withClient adapts a command body that talks to the daemon into a cobra
// RunE: it gets a client (starting the daemon when needed) first.
func (a *app) withClient(run func(ctx context.Context, c *api.Client, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := a.client(cmd.Context())
		if err != nil {
			return err
		}
		return run(cmd.Context(), c, args)
	}
}

// streamed runs one streamed daemon operation and shows its progress and log
// events on stderr; the progress display is finished when it returns.
func streamed[T any](a *app, op func(onEvent func(api.Event)) (T, error)) (T, error) {
	pp := newProgress(a.stderr)
	defer pp.finish()
	return op(pp.event)
}

// exitStatus turns the outcome of a guest command into the command's error:
// the run's own failure, else the guest's non-zero exit code.
func exitStatus(code int, err error) error {
	if err != nil {
		return err
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}

// listCmd is a `list` command that prints what list returns as a table, or
// as JSON with --json.
func listCmd[T any](a *app, cmd *cobra.Command, list func(context.Context, *api.Client, []string) ([]T, error), header []string, row func(T) []string) *cobra.Command {
	var asJSON bool
	cmd.RunE = a.withClient(func(ctx context.Context, c *api.Client, args []string) error {
		items, err := list(ctx, c, args)
		if err != nil {
			return err
		}
		return printList(a.stdout, items, asJSON, header, row)
	})
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// catalogListCmd is the `list` of images or kernels (kind "image" or
// "kernel"): the installed ones as a table or JSON, or with --available
// what the catalog offers, as catalog prints it.
func catalogListCmd[T any](a *app, kind string, list func(*api.Client, context.Context) ([]T, error), header []string, row func(T) []string,
	catalog func(ctx context.Context, c *api.Client, asJSON bool) error) *cobra.Command {
	var asJSON, available bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List " + kind + "s (--available: those the catalog offers)",
		Args:    cobra.NoArgs,
		RunE: a.withClient(func(ctx context.Context, c *api.Client, _ []string) error {
			if available {
				return catalog(ctx, c, asJSON)
			}
			items, err := list(c, ctx)
			if err != nil {
				return err
			}
			return printList(a.stdout, items, asJSON, header, row)
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&available, "available", false, "list the "+kind+"s the catalog offers")
	return cmd
}
