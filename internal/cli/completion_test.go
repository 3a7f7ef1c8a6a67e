package cli

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"banger/internal/api"
)

// noFiles is the directive line of a completion that offers no files.
const noFiles = ":4\n"

func TestCompleteVMNames(t *testing.T) {
	f := newFakeDaemon(t)
	f.reply("GET /v1/vms", testVMs())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"vm", "ssh", ""}, "happy-otter\trunning\nweb1\tstopped\n" + noFiles},
		{[]string{"vm", "ssh", "w"}, "web1\tstopped\n" + noFiles},
		{[]string{"vm", "ssh", "happy-otter", ""}, noFiles}, // one VM, then the command
		{[]string{"vm", "stop", ""}, "happy-otter\trunning\nweb1\tstopped\n" + noFiles},
		{[]string{"vm", "delete", "happy-otter", ""}, "web1\tstopped\n" + noFiles},
		{[]string{"vm", "rm", "web1", ""}, "happy-otter\trunning\n" + noFiles},
		{[]string{"vm", "workspace", "prepare", ""}, "happy-otter\trunning\nweb1\tstopped\n" + noFiles},
		{[]string{"vm", "workspace", "prepare", "web1", ""}, ":16\n"}, // then a directory
		{[]string{"vm", "exec", "web1", ""}, noFiles},
	} {
		r := f.cli(append([]string{cobra.ShellCompRequestCmd}, tc.args...)...)
		wantExit(t, r, 0)
		if r.stdout != tc.want {
			t.Errorf("complete %q = %q, want %q", tc.args, r.stdout, tc.want)
		}
	}
}

func TestCompleteImagesKernelsSnapshots(t *testing.T) {
	f := newFakeDaemon(t)
	f.reply("GET /v1/images", []api.Image{{Name: "debian-bookworm", Source: "built"}, {Name: "alpine-3.19", Source: "oci"}})
	f.reply("GET /v1/kernels", []api.Kernel{{Name: "generic-6.1", Version: "6.1.0"}})
	f.reply("GET /v1/snapshots", []api.Snapshot{{Key: "ab12cd", Image: "alpine-3.19"}})
	images := "debian-bookworm\tbuilt\nalpine-3.19\toci\n" + noFiles
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"image", "show", ""}, images},
		{[]string{"image", "rm", "alpine-3.19", ""}, "debian-bookworm\tbuilt\n" + noFiles},
		{[]string{"image", "warm", "d"}, "debian-bookworm\tbuilt\n" + noFiles},
		{[]string{"vm", "create", "--image", ""}, images},
		{[]string{"vm", "run", "--image", "a"}, "alpine-3.19\toci\n" + noFiles},
		{[]string{"vm", "create", "--image="}, images}, // the shell keeps the "--image=" it has
		{[]string{"kernel", "show", ""}, "generic-6.1\t6.1.0\n" + noFiles},
		{[]string{"kernel", "rm", ""}, "generic-6.1\t6.1.0\n" + noFiles},
		{[]string{"image", "pull", "alpine:3.19", "--kernel", ""}, "generic-6.1\t6.1.0\n" + noFiles},
		{[]string{"image", "register", "--kernel-ref", ""}, "generic-6.1\t6.1.0\n" + noFiles},
		{[]string{"image", "warm", "--delete", ""}, "ab12cd\talpine-3.19\n" + noFiles},
	} {
		r := f.cli(append([]string{cobra.ShellCompRequestCmd}, tc.args...)...)
		wantExit(t, r, 0)
		if r.stdout != tc.want {
			t.Errorf("complete %q = %q, want %q", tc.args, r.stdout, tc.want)
		}
	}
}

// Completion never starts a daemon: with none running it offers nothing,
// not even files.
func TestCompleteWithoutDaemon(t *testing.T) {
	for _, args := range [][]string{{"vm", "ssh", ""}, {"vm", "create", "--image", ""}} {
		r := noDaemon(t, append([]string{cobra.ShellCompRequestCmd}, args...)...)
		wantExit(t, r, 0)
		if r.stdout != noFiles {
			t.Errorf("complete %q without a daemon = %q, want %q", args, r.stdout, noFiles)
		}
	}
}

// A daemon that fails the list gives no names either.
func TestCompleteDaemonError(t *testing.T) {
	f := newFakeDaemon(t)
	f.fail("GET /v1/vms", 500, api.Error{Kind: api.KindUnknown, Message: "boom"})
	r := f.cli(cobra.ShellCompRequestCmd, "vm", "show", "")
	wantExit(t, r, 0)
	if r.stdout != noFiles {
		t.Errorf("complete with a failing daemon = %q, want %q", r.stdout, noFiles)
	}
}

// The tables name commands and flags that exist, and every command whose
// argument is an existing VM, image or kernel completes it.
func TestCompletionTablesMatchCommands(t *testing.T) {
	a := &app{}
	root := a.rootCmd()
	for path := range completedArgs() {
		cmd, rest, err := root.Find(strings.Fields(path))
		if err != nil || len(rest) != 0 || cmd.CommandPath() != "banger "+path {
			t.Errorf("completedArgs names %q, which is no command (found %q)", path, cmd.CommandPath())
		}
	}
	for key := range completedFlags() {
		path, flag, _ := strings.Cut(key, " --")
		cmd, _, err := root.Find(strings.Fields(path))
		if err != nil || cmd.CommandPath() != "banger "+path {
			t.Errorf("completedFlags names %q, whose command does not exist", key)
			continue
		}
		if _, ok := cmd.GetFlagCompletionFunc(flag); !ok {
			t.Errorf("completedFlags names %q, but the flag has no completion", key)
		}
	}
	newNames := map[string]bool{"image build": true, "kernel pull": true, "kernel import": true}
	var walk func(cmd *cobra.Command)
	walk = func(cmd *cobra.Command) {
		path := strings.TrimPrefix(cmd.CommandPath(), "banger ")
		if f := strings.Fields(cmd.Use); len(f) > 1 && !newNames[path] {
			arg := strings.Trim(f[1], "[].")
			if (arg == "NAME" || arg == "VM") && cmd.ValidArgsFunction == nil {
				t.Errorf("%s takes a %s but does not complete it (add it to completedArgs)", cmd.CommandPath(), arg)
			}
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

func TestCompletionScripts(t *testing.T) {
	f := newFakeDaemon(t)
	for shell, want := range map[string]string{"bash": "__start_banger", "zsh": "#compdef banger", "fish": "complete -c banger"} {
		r := f.cli("completion", shell)
		wantExit(t, r, 0)
		if !strings.Contains(r.stdout, want) {
			t.Errorf("banger completion %s does not hold %q:\n%.300s", shell, want, r.stdout)
		}
	}
}
