package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/termtext"
)

// showCmd is a `show NAME [--json]` command: it fetches one object and
// prints it as JSON or as aligned "key: value" rows (empty values left out).
func showCmd[T any](a *app, short string, get func(*api.Client, context.Context, string) (T, error), rows func(T) [][2]string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show NAME",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, args []string) error {
			v, err := get(c, ctx, args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSONOut(a.stdout, v)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			for _, r := range rows(v) {
				if r[1] != "" {
					fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
				}
			}
			return tw.Flush()
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// deleteCmd is a `delete NAME...` command for one kind of object.
func deleteCmd(a *app, use string, aliases []string, short string, del func(*api.Client, context.Context, string) error) *cobra.Command {
	return &cobra.Command{
		Use:     use + " NAME...",
		Aliases: aliases,
		Short:   short,
		Args:    cobra.MinimumNArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, args []string) error {
			for _, name := range args {
				if err := del(c, ctx, name); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "deleted %s\n", name)
			}
			return nil
		}),
	}
}

// printList prints items as JSON, or as a table with a header row and one
// row per item.
func printList[T any](w io.Writer, items []T, asJSON bool, header []string, row func(T) []string) error {
	if asJSON {
		if items == nil {
			items = []T{}
		}
		return writeJSONOut(w, items)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, it := range items {
		cells := row(it)
		for i, c := range cells { // some come from guests (process names)
			cells[i] = termtext.Field(c)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}
