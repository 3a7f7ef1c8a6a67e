package cli

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/workspace"
)

type wsFlags struct {
	branch, from     string
	includeUntracked bool
}

func (f *wsFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.branch, "branch", "", "branch name in the guest (default: the repository's current branch)")
	cmd.Flags().StringVar(&f.from, "from", "", "check out this revision instead of copying the working tree")
	cmd.Flags().BoolVar(&f.includeUntracked, "include-untracked", false, "also copy untracked files (ignored files are never copied)")
}

func (f *wsFlags) set() bool { return f.branch != "" || f.from != "" || f.includeUntracked }

func (f *wsFlags) options() workspace.Options {
	return workspace.Options{Branch: f.branch, From: f.from, IncludeUntracked: f.includeUntracked}
}

// prepare copies repo into the VM and records it as the VM's workspace.
func (a *app) prepare(ctx context.Context, c *api.Client, vm string, repo workspace.Repo) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(repo.Pack(ctx, pw)) }()
	mode := ""
	if repo.FromRev != "" {
		mode = "from"
	}
	code, err := a.ssh(ctx, c, vm, []string{"sh", "-c", workspace.SyncScript, "banger-sync", repo.GuestPath(), repo.Branch, repo.Head, mode},
		sshOpts{stdin: pr})
	pr.Close()
	if err != nil {
		return fmt.Errorf("copy %s into %s: %w", repo.Root, vm, err)
	}
	if code != 0 {
		return fmt.Errorf("copy %s into %s: the guest side exited %d", repo.Root, vm, code)
	}
	return c.SetWorkspace(ctx, vm, api.Workspace{HostPath: repo.Root, GuestPath: repo.GuestPath(), Head: repo.Head})
}

// execIn runs command in dir in the guest, or an interactive login shell
// there when command is empty.
func (a *app) execIn(ctx context.Context, c *api.Client, vm, dir string, command []string) (int, error) {
	if len(command) == 0 {
		return a.ssh(ctx, c, vm, []string{"sh", "-c", `cd "$1" && exec "${SHELL:-/bin/sh}" -l`, "banger-shell", dir}, sshOpts{tty: true})
	}
	return a.ssh(ctx, c, vm, append([]string{"sh", "-c", workspace.ExecScript, "banger-exec", dir}, command...), sshOpts{})
}

func (a *app) vmWorkspaceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "workspace", Short: "Copy a git checkout into a VM and bring the work back as a patch"}
	var wf wsFlags
	prepare := &cobra.Command{
		Use:   "prepare VM PATH",
		Short: "Copy a git checkout into a running VM, at /root/<repo-name>",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, err := workspace.Open(cmd.Context(), args[1], wf.options())
			if err != nil {
				return err
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			if err := a.prepare(cmd.Context(), c, args[0], repo); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "%s -> %s:%s (%d files)\n", repo.Root, args[0], repo.GuestPath(), len(repo.Files))
			return nil
		},
	}
	wf.add(prepare)
	var base string
	export := &cobra.Command{
		Use:   "export VM",
		Short: "Print the VM's workspace changes as a patch for `git apply`; the guest is not modified",
		Long: "Print the changes made in the VM's workspace as a patch that `git apply` accepts on the host.\n" +
			"Without --base-commit: the uncommitted changes. With it: everything since that commit,\n" +
			"including commits made in the guest. The guest's index and working tree are not touched.",
		Args: cobra.ExactArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, args []string) error {
			vm, err := c.GetVM(ctx, args[0])
			if err != nil {
				return err
			}
			if vm.Workspace == nil {
				return fmt.Errorf("VM %s has no workspace: copy one in with `banger vm workspace prepare %s PATH`", vm.Name, vm.Name)
			}
			return exitStatus(a.ssh(ctx, c, vm.Name, []string{"sh", "-c", workspace.ExportScript, "banger-export", vm.Workspace.GuestPath, base}, sshOpts{}))
		}),
	}
	export.Flags().StringVar(&base, "base-commit", "", "also include the commits made since this revision")
	cmd.AddCommand(prepare, export)
	return cmd
}

func (a *app) vmExecCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "exec VM [--guest-path DIR] -- command args...",
		Short: "Run a command in a VM: arguments passed as given, exit code returned, stdout and stderr kept apart",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.ArgsLenAtDash() != 1 {
				return fmt.Errorf("put the command after --: banger vm exec %s -- CMD ARGS", args[0])
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			if dir == "" {
				vm, err := c.GetVM(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				dir = "/root"
				if vm.Workspace != nil {
					dir = vm.Workspace.GuestPath
				}
			} else if !filepath.IsAbs(dir) {
				return fmt.Errorf("--guest-path %q: give an absolute path in the guest", dir)
			}
			return exitStatus(a.execIn(cmd.Context(), c, args[0], dir, args[1:]))
		},
	}
	cmd.Flags().StringVar(&dir, "guest-path", "", "directory to run in (default: the VM's workspace, else /root)")
	return cmd
}

// gitIdentity is the host user's git user.name and user.email, as git
// sees them in dir (the repository's own config over the global one), or
// the global ones when dir is "". Unset values are empty. It is the one
// place the CLI reads them; the daemon sets them in a new VM.
func gitIdentity(ctx context.Context, dir string) (name, email string) {
	args := []string{"config", "--get"}
	if dir == "" {
		dir, args = ".", []string{"config", "--global", "--get"}
	}
	name, _ = gitOutput(ctx, dir, append(args, "user.name")...)
	email, _ = gitOutput(ctx, dir, append(args, "user.email")...)
	return name, email
}

func gitOutput(ctx context.Context, dir string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...).Output()
	return strings.TrimSpace(string(out)), err
}
