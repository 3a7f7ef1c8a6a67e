package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
	"banger/internal/poll"
	"banger/internal/termtext"
	"banger/internal/units"
	"banger/internal/workspace"
)

type vmFlags struct {
	name     string
	image    string
	vcpu     int
	memory   int
	diskSize string
	rootSize string
	nat      bool
	natSet   bool
	cold     bool
	init     string
	life     lifetimeFlags
}

func (f *vmFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.name, "name", "", "VM name ([a-z0-9][a-z0-9-]{0,62}; default: a generated adjective-noun)")
	cmd.Flags().StringVar(&f.image, "image", "", "image to boot (default: default_image from the config, debian-bookworm)")
	cmd.Flags().IntVar(&f.vcpu, "vcpu", 0, "virtual CPUs (default: [vm_defaults] vcpu, else cpus/4 capped at 4)")
	cmd.Flags().IntVar(&f.memory, "memory", 0, "memory in MiB (default: [vm_defaults] memory_mib, else RAM/8 capped at 8192)")
	cmd.Flags().StringVar(&f.diskSize, "disk-size", "", "size of the work disk mounted at /root, e.g. 8G (default: [vm_defaults] disk_size)")
	cmd.Flags().StringVar(&f.rootSize, "root-size", "", "room on /: the root file system has at least this much free at the first boot, e.g. 10G (default: [vm_defaults] root_size, 4G)")
	cmd.Flags().BoolVar(&f.nat, "nat", false, "give the VM outbound network access through NAT (default: nat_default from the config)")
	cmd.Flags().BoolVar(&f.cold, "cold", false, "boot the VM even when a snapshot of its image could be restored (see `banger image warm`)")
	cmd.Flags().StringVar(&f.init, "init", "", "what the VM boots as PID 1: agent (banger-agent: fast, no services) or systemd (the image's own init, with its services) (default: the image's choice; banger's image boots the agent)")
	_ = cmd.RegisterFlagCompletionFunc("init", cobra.FixedCompletions([]string{"agent\tbanger-agent as PID 1", "systemd\tthe image's own init"}, cobra.ShellCompDirectiveNoFileComp))
	f.life.add(cmd)
	cmd.PreRun = func(cmd *cobra.Command, _ []string) { f.natSet = cmd.Flags().Changed("nat") }
}

// request is the create request the flags ask for. The guest gets the git
// identity git has in gitDir (a repository to be copied in), or the
// global one when gitDir is "".
func (f *vmFlags) request(gitDir string) (api.CreateVM, error) {
	for _, s := range []struct{ flag, v string }{{"--disk-size", f.diskSize}, {"--root-size", f.rootSize}} {
		if s.v == "" {
			continue
		}
		if _, err := units.ParseSize(s.v); err != nil {
			return api.CreateVM{}, fmt.Errorf("%s: %w", s.flag, err)
		}
	}
	if f.vcpu < 0 || f.memory < 0 {
		return api.CreateVM{}, fmt.Errorf("--vcpu and --memory must be positive")
	}
	req := api.CreateVM{Name: f.name, Image: f.image, VCPUs: f.vcpu, MemoryMiB: f.memory, DiskSize: f.diskSize, RootSize: f.rootSize, Cold: f.cold, Init: f.init}
	req.GitName, req.GitEmail = gitIdentity(context.Background(), gitDir)
	if f.natSet {
		req.NAT = &f.nat
	}
	return req, f.life.apply(&req)
}

func (a *app) vmCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "vm", Short: "Create, run and manage VMs"}
	cmd.AddCommand(a.vmSetCmd(), a.vmWorkspaceCmd(), a.vmExecCmd(), a.vmForwardCmd(), a.vmPortsCmd(), a.vmStatsCmd(), a.vmRunCmd(), a.vmCreateCmd(), a.vmListCmd(), a.vmShowCmd(), a.vmSSHCmd(), a.vmLogsCmd(),
		a.vmDeleteCmd(), a.vmPruneCmd(), a.vmConnectCmd())
	for _, action := range []struct{ name, short string }{
		{"start", "Boot a stopped VM and wait for SSH"},
		{"stop", "Shut a VM down gracefully (killed after stop_timeout)"},
		{"restart", "Stop then start a VM"},
		{"kill", "End a VM's process at once (when stop hangs)"},
	} {
		action := action
		cmd.AddCommand(&cobra.Command{
			Use:   action.name + " NAME",
			Short: action.short,
			Args:  cobra.ExactArgs(1),
			RunE: a.withClient(func(ctx context.Context, c *api.Client, args []string) error {
				vm, _, err := followOp(ctx, a, c, false, func(ctx context.Context, onEvent func(api.Event)) (api.VM, error) {
					return c.VMAction(ctx, args[0], action.name, onEvent)
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s %s\n", vm.Name, vm.State)
				return nil
			}),
		})
	}
	return cmd
}

func (a *app) vmCreateCmd() *cobra.Command {
	var f vmFlags
	var noStart, detach bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a long-lived VM (and start it unless --no-start)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := f.request("")
			if err != nil {
				return err
			}
			req.NoStart = noStart
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			vm, detached, err := followOp(cmd.Context(), a, c, detach, func(ctx context.Context, onEvent func(api.Event)) (api.VM, error) {
				return c.CreateVM(ctx, req, onEvent)
			})
			if err != nil || detached {
				return err
			}
			fmt.Fprintf(a.stdout, "%s %s %s\n", vm.Name, vm.State, vm.IP)
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&noStart, "no-start", false, "create the VM without booting it")
	cmd.Flags().BoolVar(&detach, "detach", false, "print the id of the create's operation and return at once; `banger ops wait ID` follows it")
	return cmd
}

func (a *app) vmRunCmd() *cobra.Command {
	var f vmFlags
	var wf wsFlags
	var rm, dryRun bool
	cmd := &cobra.Command{
		Use:   "run [PATH] [flags] [-- command args...]",
		Short: "Create and boot a VM, then open a shell in it or run a command and return its exit code",
		Long: "Create and boot a VM, then open a shell in it or run a command and return its exit code.\n\n" +
			"With PATH, a git checkout is copied to /root/<repo-name> first (tracked files; untracked ones\n" +
			"with --include-untracked; ignored files never) with its history, and the command runs there.",
		Example: "  banger vm run\n  banger vm run --rm -- uname -a\n  banger vm run ./repo -- make test\n" +
			"  banger vm run --vcpu 2 --memory 2048 --disk-size 16G --name scratch",
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			var paths, command []string
			if dash == -1 {
				paths = args
			} else {
				paths, command = args[:dash], args[dash:]
			}
			if len(paths) > 1 {
				return fmt.Errorf("unexpected argument %q: give one repository path, and put the command after --", paths[1])
			}
			var repo *workspace.Repo
			if len(paths) == 1 {
				r, err := workspace.Open(cmd.Context(), paths[0], wf.options())
				if err != nil {
					return err
				}
				repo = &r
			} else if dryRun || wf.set() {
				return fmt.Errorf("--dry-run, --branch, --from and --include-untracked need a repository PATH")
			}
			if dryRun {
				for _, f := range repo.Files {
					fmt.Fprintln(a.stdout, f)
				}
				return nil
			}
			gitDir := ""
			if repo != nil {
				gitDir = repo.Root
			}
			req, err := f.request(gitDir)
			if err != nil {
				return err
			}
			return a.run(cmd.Context(), req, rm, repo, command)
		},
	}
	f.add(cmd)
	wf.add(cmd)
	cmd.Flags().BoolVar(&rm, "rm", false, "delete the VM when the shell or command ends")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the files that would be copied from PATH and stop")
	return cmd
}

func (a *app) run(ctx context.Context, req api.CreateVM, rm bool, repo *workspace.Repo, command []string) error {
	c, err := a.client(ctx)
	if err != nil {
		return err
	}
	// Ctrl-C during creation cancels it (the daemon rolls back); during the
	// session it belongs to the guest, and --rm still runs afterwards.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-cctx.Done():
		}
	}()
	var vm api.VM
	if rm {
		// The daemon keeps the promise of --rm: the VM lives as long as
		// this request, however this process ends.
		var release func()
		if vm, release, err = a.holdForRun(cctx, c, req); err != nil {
			return err
		}
		defer release()
	} else if vm, _, err = followOp(ctx, a, c, false, func(ctx context.Context, onEvent func(api.Event)) (api.VM, error) {
		return c.CreateVM(ctx, req, onEvent)
	}); err != nil {
		return err
	}
	cancel()
	fmt.Fprintf(a.stderr, "spec: %d vcpu · %d MiB · %s disk\n", vm.VCPUs, vm.MemoryMiB, units.FormatSize(vm.DiskBytes))
	var code int
	var sshErr error
	if repo != nil {
		if sshErr = a.prepare(ctx, c, vm.Name, *repo); sshErr == nil {
			code, sshErr = a.execIn(ctx, c, vm.Name, repo.GuestPath(), command)
		}
	} else {
		code, sshErr = a.ssh(ctx, c, vm.Name, command, sshOpts{})
	}
	if rm {
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer dcancel()
		if err := c.DeleteVM(dctx, vm.Name); err != nil {
			fmt.Fprintf(a.stderr, "banger: delete %s: %v\n", vm.Name, err)
		}
	} else if len(command) == 0 {
		fmt.Fprintf(a.stderr, "VM %s keeps running: `banger vm ssh %s` to return, `banger vm delete %s` to remove it\n", vm.Name, vm.Name, vm.Name)
	}
	return exitStatus(code, sshErr)
}

// holdForRun creates the VM of `vm run --rm` held by its request (see
// api.Client.HoldVM); release ends the request, which deletes the VM.
// Cancelling cctx before the VM is ready abandons the create.
func (a *app) holdForRun(cctx context.Context, c *api.Client, req api.CreateVM) (api.VM, func(), error) {
	hctx, release := context.WithCancel(context.WithoutCancel(cctx))
	readyc, errc := make(chan api.VM, 1), make(chan error, 1)
	var res api.VM
	pp := newProgress(a.stderr)
	go func() {
		var err error
		res, err = c.HoldVM(hctx, req, pp.event, func(v api.VM) { readyc <- v })
		errc <- err
	}()
	select {
	case v := <-readyc:
		pp.finish()
		return v, func() { release(); <-errc }, nil
	case err := <-errc:
		pp.finish()
		release()
		if err == nil { // a daemon that does not hold VMs: the VM is its result
			return res, func() {}, nil
		}
		return api.VM{}, nil, err
	case <-cctx.Done():
		release()
		err := <-errc
		pp.finish()
		return api.VM{}, nil, err
	}
}

func (a *app) vmSSHCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "ssh NAME [-- command args...]",
		Short: "Open a shell in a VM, or run a command there, with the system ssh client",
		Args:  cobra.MinimumNArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, args []string) error {
			signal.Ignore(os.Interrupt)
			return exitStatus(a.ssh(ctx, c, args[0], args[1:], sshOpts{}))
		}),
	}
}

func (a *app) vmListCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Aliases: []string{"ps", "ls"}, Short: "List VMs", Args: cobra.NoArgs}
	list := func(ctx context.Context, c *api.Client, _ []string) ([]api.VM, error) { return c.ListVMs(ctx) }
	return listCmd(a, cmd, list, []string{"NAME", "STATE", "IMAGE", "IP", "VCPU", "MEM", "DISK", "CREATED"}, func(v api.VM) []string {
		return []string{v.Name, stateLabel(v), v.Image, v.IP, fmt.Sprint(v.VCPUs), fmt.Sprintf("%dM", v.MemoryMiB),
			units.FormatSize(v.DiskBytes), ago(v.CreatedAt)}
	})
}

func ago(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

func writeJSONOut(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (a *app) vmShowCmd() *cobra.Command {
	return showCmd(a, "Show one VM", (*api.Client).GetVM, func(v api.VM) [][2]string {
		pid := ""
		if v.PID != 0 {
			pid = fmt.Sprint(v.PID)
		}
		rows := [][2]string{
			{"name", v.Name}, {"id", v.ID}, {"state", v.State}, {"image", v.Image}, {"ip", v.IP}, {"mac", v.MAC},
			{"vcpu", fmt.Sprint(v.VCPUs)}, {"memory", fmt.Sprintf("%d MiB", v.MemoryMiB)},
			{"disk", units.FormatSize(v.DiskBytes)}, {"nat", fmt.Sprint(v.NAT)}, {"backend", v.Backend},
			{"accel", v.Accel}, {"pid", pid}, {"tap", v.Tap}, {"dir", v.Dir},
			{"created", v.CreatedAt.Local().Format(time.RFC3339)},
		}
		if v.Init != "" {
			rows = append(rows, [2]string{"init", v.Init})
		}
		if w := v.Workspace; w != nil {
			rows = append(rows, [2]string{"workspace", fmt.Sprintf("%s -> %s (at %.12s)", w.HostPath, w.GuestPath, w.Head)})
		}
		return append(rows, lifetimeRows(v, time.Now())...)
	})
}

func (a *app) vmLogsCmd() *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs NAME",
		Short: "Print a VM's serial console",
		Args:  cobra.ExactArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, args []string) error {
			var offset int64
			// The console is the guest's: escape what a terminal would obey.
			out := termtext.NewWriter(a.stdout)
			defer out.Flush()
			err := poll.Until(ctx, time.Second, nil, func(ctx context.Context) (bool, error) {
				n, err := c.Logs(ctx, args[0], offset, out)
				offset += n
				return !follow, err
			})
			if err != nil && err == ctx.Err() {
				return nil // interrupted between two reads
			}
			return err
		}),
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new output")
	return cmd
}

func (a *app) vmDeleteCmd() *cobra.Command {
	return deleteCmd(a, "delete", []string{"rm"}, "Delete VMs and every file of them (irreversible)", (*api.Client).DeleteVM)
}

func (a *app) vmPruneCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "prune",
		Short: "Delete every VM that is not running",
		Args:  cobra.NoArgs,
		RunE: a.withClient(func(ctx context.Context, c *api.Client, _ []string) error {
			if !force {
				vms, err := c.ListVMs(ctx)
				if err != nil {
					return err
				}
				var names []string
				for _, v := range vms {
					if v.State != "running" {
						names = append(names, v.Name)
					}
				}
				if len(names) == 0 {
					fmt.Fprintln(a.stdout, "nothing to prune")
					return nil
				}
				fmt.Fprintf(a.stderr, "delete %s? [y/N] ", strings.Join(names, ", "))
				var answer string
				_, _ = fmt.Fscanln(a.stdin, &answer)
				if answer != "y" && answer != "Y" && answer != "yes" {
					return fmt.Errorf("prune cancelled (use -f to skip the question)")
				}
			}
			res, err := c.PruneVMs(ctx)
			if err != nil {
				return err
			}
			for _, n := range res.Deleted {
				fmt.Fprintf(a.stdout, "deleted %s\n", n)
			}
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not ask")
	return cmd
}

func (a *app) vmSetCmd() *cobra.Command {
	var vcpu, memory int
	var nat bool
	var life lifetimeFlags
	cmd := &cobra.Command{
		Use:   "set NAME [--vcpu N] [--memory MiB] [--nat=true|false] [--ttl DURATION] [--auto-stop DURATION]",
		Short: "Change a VM's vCPUs or memory (while it is stopped), its NAT (at once), or its time to live and auto-stop",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var req api.SetVM
			if cmd.Flags().Changed("vcpu") {
				req.VCPUs = &vcpu
			}
			if cmd.Flags().Changed("memory") {
				req.MemoryMiB = &memory
			}
			if cmd.Flags().Changed("nat") {
				req.NAT = &nat
			}
			if err := setLifetime(cmd, &life, &req); err != nil {
				return err
			}
			if req == (api.SetVM{}) {
				return fmt.Errorf("nothing to change: give --vcpu, --memory, --nat, --ttl or --auto-stop")
			}
			c, err := a.client(cmd.Context())
			if err != nil {
				return err
			}
			v, err := c.SetVM(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: %d vcpu · %d MiB · nat %v\n", v.Name, v.VCPUs, v.MemoryMiB, v.NAT)
			printSetLifetime(a.stdout, v, req)
			return nil
		},
	}
	cmd.Flags().IntVar(&vcpu, "vcpu", 0, "virtual CPUs, from the next start")
	cmd.Flags().IntVar(&memory, "memory", 0, "memory in MiB, from the next start")
	cmd.Flags().BoolVar(&nat, "nat", false, "outbound NAT (applied at once if the VM runs)")
	cmd.Flags().StringVar(&life.ttl, "ttl", "", "delete the VM this long from now, e.g. 1h (extends or shortens its time to live); off never")
	cmd.Flags().StringVar(&life.autoStop, "auto-stop", "", autoStopHelp)
	return cmd
}
