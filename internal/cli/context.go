package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"banger/internal/remote"
)

// contexts loads the user's contexts and says where they are kept.
func (a *app) contexts() (remote.Contexts, string, error) {
	path, err := remote.ContextsPath(a.getenv)
	if err != nil {
		return remote.Contexts{}, "", err
	}
	c, err := remote.LoadContexts(path)
	return c, path, err
}

// contextHost is the current context's host, if any. Without a place for
// contexts (no $HOME) there is none.
func (a *app) contextHost() (remote.Host, bool, error) {
	path, err := remote.ContextsPath(a.getenv)
	if err != nil {
		return remote.Host{}, false, nil
	}
	c, err := remote.LoadContexts(path)
	if err != nil {
		return remote.Host{}, false, err
	}
	return c.CurrentHost()
}

func (a *app) contextCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "context", Short: "Named remote daemons: create, use, list and remove them"}
	var host string
	create := &cobra.Command{
		Use:   "create NAME --host ssh://[user@]host[:port]",
		Short: "Name a remote daemon",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := remote.CheckContextName(args[0]); err != nil {
				return err
			}
			h, err := remote.Parse(host)
			if err != nil {
				return err
			}
			return a.editContexts(func(c *remote.Contexts) error {
				if _, dup := c.Hosts[args[0]]; dup {
					return fmt.Errorf("context %q exists: `banger context rm %s` first", args[0], args[0])
				}
				c.Hosts[args[0]] = h.String()
				return nil
			})
		},
	}
	create.ValidArgsFunction = cobra.NoFileCompletions // a new name
	create.Flags().StringVar(&host, "host", "", "the daemon's host, ssh://[user@]host[:port] (required)")
	_ = create.MarkFlagRequired("host")
	cmd.AddCommand(create, &cobra.Command{
		Use:               "use NAME",
		Short:             "Make NAME the daemon commands talk to (\"default\": the local one); --host and $BANGER_HOST still win",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeContexts,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.editContexts(func(c *remote.Contexts) error {
				if args[0] == remote.DefaultContext {
					c.Current = ""
					return nil
				}
				if _, ok := c.Hosts[args[0]]; !ok {
					return fmt.Errorf("no context %q", args[0])
				}
				c.Current = args[0]
				return nil
			})
		},
	}, a.contextLsCmd(), &cobra.Command{
		Use:               "rm NAME",
		Short:             "Remove a context (the current one: the local daemon becomes current)",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: a.completeContexts,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.editContexts(func(c *remote.Contexts) error {
				if _, ok := c.Hosts[args[0]]; !ok {
					return fmt.Errorf("no context %q", args[0])
				}
				delete(c.Hosts, args[0])
				if c.Current == args[0] {
					c.Current = ""
				}
				return nil
			})
		},
	})
	return cmd
}

func mark(current bool) string {
	if current {
		return " *"
	}
	return ""
}

// editContexts loads the contexts, applies edit and saves them.
func (a *app) editContexts(edit func(*remote.Contexts) error) error {
	c, path, err := a.contexts()
	if err != nil {
		return err
	}
	if err := edit(&c); err != nil {
		return err
	}
	return c.Save(path)
}

// completeContexts offers the contexts' names for the first argument.
func (a *app) completeContexts(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, _, err := a.contexts()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return c.Names(), cobra.ShellCompDirectiveNoFileComp
}

// contextLsCmd lists the contexts.
func (a *app) contextLsCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the contexts; * marks the current one",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, _, err := a.contexts()
			if err != nil {
				return err
			}
			rows := [][2]string{{remote.DefaultContext + mark(c.Current == ""), "(the local daemon)"}}
			for _, n := range c.Names() { // from a file users may edit: printList escapes it
				rows = append(rows, [2]string{n + mark(c.Current == n), fmt.Sprint(c.Hosts[n])})
			}
			return printList(a.stdout, rows, false, []string{"NAME", "HOST"}, func(r [2]string) []string { return r[:] })
		},
	}
}
