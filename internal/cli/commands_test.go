package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
)

func testVMs() []api.VM {
	created := time.Now().Add(-3*time.Hour - time.Minute)
	return []api.VM{
		{ID: "id1", Name: "happy-otter", State: "running", Image: "debian-bookworm", IP: "172.30.0.2", MAC: "02:00:00:00:00:02",
			VCPUs: 2, MemoryMiB: 1024, DiskBytes: 8 << 30, NAT: true, Backend: "toy", PID: 4242, CreatedAt: created,
			Workspace: &api.Workspace{HostPath: "/src/app", GuestPath: "/root/app", Head: "0123456789abcdef"}},
		{ID: "id2", Name: "web1", State: "stopped", Image: "alpine-3.19", IP: "172.30.0.3", VCPUs: 1, MemoryMiB: 512,
			DiskBytes: 4 << 30, CreatedAt: created},
	}
}

func wantExit(t *testing.T, r cliRun, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

// wantOutput checks a run's exit code and everything it printed.
func wantOutput(t *testing.T, r cliRun, code int, stdout, stderr string) {
	t.Helper()
	wantExit(t, r, code)
	if r.stdout != stdout || r.stderr != stderr {
		t.Errorf("stdout %q, stderr %q\nwant %q, %q", r.stdout, r.stderr, stdout, stderr)
	}
}

func TestVMListTable(t *testing.T) {
	f := newFakeDaemon(t)
	f.reply("GET /v1/vms", testVMs())
	for _, verb := range []string{"list", "ls", "ps"} {
		r := f.cli("vm", verb)
		wantExit(t, r, 0)
		want := "NAME         STATE    IMAGE            IP          VCPU  MEM    DISK  CREATED\n" +
			"happy-otter  running  debian-bookworm  172.30.0.2  2     1024M  8G    3h ago\n" +
			"web1         stopped  alpine-3.19      172.30.0.3  1     512M   4G    3h ago\n"
		if r.stdout != want {
			t.Errorf("vm %s:\n%s\nwant:\n%s", verb, r.stdout, want)
		}
	}
}

func TestVMListJSON(t *testing.T) {
	f := newFakeDaemon(t)
	vms := testVMs()
	f.reply("GET /v1/vms", vms)
	r := f.cli("vm", "list", "--json")
	wantExit(t, r, 0)
	var got []api.VM
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("vm list --json is not a JSON list of VMs: %v\n%s", err, r.stdout)
	}
	if len(got) != 2 || got[0].Name != "happy-otter" || got[1].Workspace != nil || got[0].Workspace.GuestPath != "/root/app" {
		t.Errorf("vm list --json = %+v", got)
	}

	empty := newFakeDaemon(t)
	empty.reply("GET /v1/vms", nil) // the daemon may send null
	r = empty.cli("vm", "list", "--json")
	wantExit(t, r, 0)
	if strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("empty vm list --json = %q, want []", r.stdout)
	}
}

func TestVMShow(t *testing.T) {
	f := newFakeDaemon(t)
	vms := testVMs()
	f.reply("GET /v1/vms/happy-otter", vms[0])
	f.reply("GET /v1/vms/web1", vms[1])
	r := f.cli("vm", "show", "happy-otter")
	wantExit(t, r, 0)
	for _, line := range []string{
		"name:       happy-otter\n", "id:         id1\n", "state:      running\n", "memory:     1024 MiB\n",
		"disk:       8G\n", "nat:        true\n", "backend:    toy\n", "pid:        4242\n",
		"workspace:  /src/app -> /root/app (at 0123456789ab)\n",
	} {
		if !strings.Contains(r.stdout, line) {
			t.Errorf("vm show lacks %q:\n%s", line, r.stdout)
		}
	}
	r = f.cli("vm", "show", "web1")
	wantExit(t, r, 0)
	for _, absent := range []string{"pid:", "tap:", "accel:", "workspace:", "mac:"} {
		if strings.Contains(r.stdout, absent) {
			t.Errorf("vm show of a stopped VM prints the empty %q:\n%s", absent, r.stdout)
		}
	}
	r = f.cli("vm", "show", "web1", "--json")
	wantExit(t, r, 0)
	var got api.VM
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.Name != "web1" || got.DiskBytes != 4<<30 {
		t.Errorf("vm show --json = %+v, %v", got, err)
	}
}

func TestVMCreatePrintsProgressAndSendsTheRequest(t *testing.T) {
	f := newFakeDaemon(t)
	vm := testVMs()[0]
	f.stream("POST /v1/vms",
		api.Event{Type: "log", Message: "image debian-bookworm"},
		api.Event{Type: "progress", Step: "copy rootfs", Done: 512, Total: 1024},
		api.Event{Type: "progress", Step: "copy rootfs", Done: 1024, Total: 1024},
		api.Event{Type: "log", Message: "booting"},
		result(t, vm))
	r := f.cli("vm", "create", "--name", "happy-otter", "--vcpu", "2", "--memory", "1024", "--disk-size", "8G", "--root-size", "6G", "--nat=false", "--no-start")
	wantExit(t, r, 0)
	if r.stdout != "happy-otter running 172.30.0.2\n" {
		t.Errorf("stdout = %q", r.stdout)
	}
	wantErr := "image debian-bookworm\ncopy rootfs: 512/1024\ncopy rootfs: 1024/1024\nbooting\n"
	if r.stderr != wantErr {
		t.Errorf("stderr = %q, want %q", r.stderr, wantErr)
	}
	var req api.CreateVM
	f.body("POST", "/v1/vms", &req)
	if req.Name != "happy-otter" || req.VCPUs != 2 || req.MemoryMiB != 1024 || req.DiskSize != "8G" || req.RootSize != "6G" || !req.NoStart ||
		req.NAT == nil || *req.NAT {
		t.Errorf("create request = %+v", req)
	}

	// Without --nat the config's default applies: the field stays absent.
	wantExit(t, f.cli("vm", "create"), 0)
	var second api.CreateVM
	f.body("POST", "/v1/vms", &second)
	if second.NAT != nil || second.NoStart || second.Name != "" {
		t.Errorf("second create request = %+v", second)
	}
}

func TestStreamErrorIsPrintedWithTheAPIWords(t *testing.T) {
	f := newFakeDaemon(t)
	f.stream("POST /v1/vms",
		api.Event{Type: "log", Message: "image nope"},
		api.Event{Type: "error", Error: &api.Error{Kind: api.KindNotFound, Message: `image "nope" not found`, OpID: "op7"}})
	wantOutput(t, f.cli("vm", "create", "--image", "nope"), 1, "", "image nope\nbanger: image \"nope\" not found (op op7)\n")

	// A stream that ends without a result is an error too.
	f.stream("POST /v1/vms/dev/start", api.Event{Type: "log", Message: "starting"})
	r := f.cli("vm", "start", "dev")
	wantExit(t, r, 1)
	if !strings.Contains(r.stderr, "the daemon closed the stream before the operation finished") {
		t.Errorf("stderr = %q", r.stderr)
	}
}

func TestVMActions(t *testing.T) {
	f := newFakeDaemon(t)
	for _, action := range []string{"start", "stop", "restart", "kill"} {
		state := map[string]string{"start": "running", "stop": "stopped", "restart": "running", "kill": "stopped"}[action]
		f.stream("POST /v1/vms/dev/"+action, api.Event{Type: "log", Message: action + "ing dev"}, result(t, api.VM{Name: "dev", State: state}))
		wantOutput(t, f.cli("vm", action, "dev"), 0, "dev "+state+"\n", action+"ing dev\n")
	}
}

func TestAPIErrorsArePrintedWithTheAPIWords(t *testing.T) {
	f := newFakeDaemon(t)
	f.fail("GET /v1/vms/ghost", http.StatusNotFound, api.Error{Kind: api.KindNotFound, Message: `VM "ghost" not found`, OpID: "op1"})
	f.handle("GET /v1/images", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "database is locked", http.StatusInternalServerError)
	})
	r := f.cli("vm", "show", "ghost")
	wantExit(t, r, 1)
	if r.stdout != "" || r.stderr != "banger: VM \"ghost\" not found (op op1)\n" {
		t.Errorf("vm show ghost: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	r = f.cli("image", "list")
	wantExit(t, r, 1)
	if r.stderr != "banger: daemon answered 500 Internal Server Error: database is locked\n" {
		t.Errorf("image list against a failing daemon: stderr %q", r.stderr)
	}
}

func TestDeleteSeveralNames(t *testing.T) {
	f := newFakeDaemon(t)
	f.handle("DELETE /v1/vms/{name}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") == "ghost" {
			writeFakeJSON(w, http.StatusNotFound, api.Error{Kind: api.KindNotFound, Message: `VM "ghost" not found`})
			return
		}
		writeFakeJSON(w, http.StatusOK, map[string]string{})
	})
	r := f.cli("vm", "delete", "a", "b")
	wantExit(t, r, 0)
	if r.stdout != "deleted a\ndeleted b\n" {
		t.Errorf("stdout = %q", r.stdout)
	}
	// The first failure stops the command: c is not deleted.
	r = f.cli("vm", "rm", "c", "ghost", "d")
	wantExit(t, r, 1)
	if r.stdout != "deleted c\n" || r.stderr != "banger: VM \"ghost\" not found\n" {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
	want := []string{"DELETE /v1/vms/a", "DELETE /v1/vms/b", "DELETE /v1/vms/c", "DELETE /v1/vms/ghost"}
	if got := f.seen(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %v, want %v", got, want)
	}
}

func TestFlagValidation(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"vm", "create", "--disk-size", "8Q"}, "banger: --disk-size: "},
		{[]string{"vm", "run", "--root-size", "0"}, "banger: --root-size: "},
		{[]string{"vm", "create", "--vcpu", "-1"}, "banger: --vcpu and --memory must be positive\n"},
		{[]string{"vm", "create", "--vcpu", "two"}, `banger: invalid argument "two" for "--vcpu" flag`},
		{[]string{"vm", "list", "--bogus"}, "banger: unknown flag: --bogus\n"},
		{[]string{"vm", "show"}, "banger: accepts 1 arg(s), received 0\n"},
		{[]string{"vm", "set", "dev"}, "banger: nothing to change: give --vcpu, --memory, --nat, --ttl or --auto-stop\n"},
		{[]string{"vm", "run", "a", "b"}, `banger: unexpected argument "b": give one repository path, and put the command after --` + "\n"},
		{[]string{"vm", "run", "--dry-run"}, "banger: --dry-run, --branch, --from and --include-untracked need a repository PATH\n"},
		{[]string{"vm", "exec", "dev", "ls"}, "banger: put the command after --: banger vm exec dev -- CMD ARGS\n"},
		{[]string{"vm", "delete"}, "banger: requires at least 1 arg(s), only received 0\n"},
		{[]string{"ssh-config", "--install", "--uninstall"}, "banger: --install and --uninstall exclude each other\n"},
	} {
		f := newFakeDaemon(t)
		r := f.cli(tt.args...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", tt.args, r.code, r.stderr, tt.want)
		}
		if got := f.seen(); len(got) != 0 {
			t.Errorf("%v: bad flags still reached the daemon: %v", tt.args, got)
		}
	}
}

// fakeSSH puts an ssh client on PATH that runs the remote command here, so
// that a guest command's output and exit code can be checked.
func fakeSSH(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\nfor a; do last=$a; done\nexec sh -c \"$last\"\n"
	if err := os.WriteFile(filepath.Join(dir, "ssh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func TestVMRunReturnsTheGuestExitCode(t *testing.T) {
	fakeSSH(t)
	f := newFakeDaemon(t)
	vm := testVMs()[0]
	f.stream("POST /v1/vms", api.Event{Type: "log", Message: "booting"}, result(t, vm))
	f.reply("GET /v1/vms/happy-otter/ssh", api.SSHTarget{VM: vm.Name, User: "root", Host: vm.IP, Port: 22, KeyPath: "/k", KnownHosts: "/kh", HostKeyAlias: "banger-id1"})
	f.reply("DELETE /v1/vms/happy-otter", map[string]string{})

	r := f.cli("vm", "run", "--rm", "--", "sh", "-c", "echo from the guest; exit 7")
	wantExit(t, r, 7)
	if r.stdout != "from the guest\n" {
		t.Errorf("stdout = %q", r.stdout)
	}
	if r.stderr != "booting\nspec: 2 vcpu · 1024 MiB · 8G disk\n" {
		t.Errorf("stderr = %q", r.stderr)
	}
	want := []string{"POST /v1/vms", "GET /v1/vms/happy-otter/ssh", "DELETE /v1/vms/happy-otter"}
	if got := f.seen(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %v, want %v", got, want)
	}

	// Without --rm the VM stays; a zero exit is success.
	r = f.cli("vm", "run", "--", "true")
	wantExit(t, r, 0)
	if n := len(f.seen()); n != 5 {
		t.Errorf("vm run without --rm made %d requests in all, want 5: %v", n, f.seen())
	}
}

func TestVMExecReturnsTheGuestExitCode(t *testing.T) {
	fakeSSH(t)
	f := newFakeDaemon(t)
	f.reply("GET /v1/vms/dev", api.VM{Name: "dev", State: "running"})
	f.reply("GET /v1/vms/dev/ssh", api.SSHTarget{VM: "dev", User: "root", Host: "172.30.0.9", Port: 22})
	// The fake ssh runs the exec script here, in /root of this machine if
	// it exists: give a directory that does.
	r := f.cli("vm", "exec", "dev", "--guest-path", t.TempDir(), "--", "sh", "-c", "echo out; echo err >&2; exit 3")
	wantExit(t, r, 3)
	if r.stdout != "out\n" || r.stderr != "err\n" {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
	r = f.cli("vm", "exec", "dev", "--guest-path", "relative", "--", "true")
	wantExit(t, r, 1)
	if !strings.Contains(r.stderr, `--guest-path "relative": give an absolute path in the guest`) {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestVMPrune(t *testing.T) {
	f := newFakeDaemon(t)
	f.reply("GET /v1/vms", testVMs())
	f.reply("POST /v1/vms/prune", api.PruneResult{Deleted: []string{"web1"}})
	r := f.run("n\n", "vm", "prune")
	wantExit(t, r, 1)
	if r.stderr != "delete web1? [y/N] banger: prune cancelled (use -f to skip the question)\n" {
		t.Errorf("answer n: stderr %q", r.stderr)
	}
	r = f.run("y\n", "vm", "prune")
	wantExit(t, r, 0)
	if r.stdout != "deleted web1\n" {
		t.Errorf("answer y: stdout %q", r.stdout)
	}
	r = f.cli("vm", "prune", "-f")
	wantExit(t, r, 0)
	want := []string{"GET /v1/vms", "GET /v1/vms", "POST /v1/vms/prune", "POST /v1/vms/prune"}
	if got := f.seen(); !reflect.DeepEqual(got, want) {
		t.Errorf("requests = %v, want %v", got, want)
	}
}

func TestImageListAndDelete(t *testing.T) {
	f := newFakeDaemon(t)
	created := time.Now().Add(-50 * time.Hour)
	f.reply("GET /v1/images", []api.Image{
		{Name: "debian-bookworm", Kernel: "bookworm-6.1", SizeBytes: 2 << 30, Source: "build", CreatedAt: created, Managed: true},
		{Name: "alpine-3.19", Kernel: "bookworm-6.1", SizeBytes: 1 << 30, Source: "oci:alpine:3.19", CreatedAt: created},
	})
	f.reply("DELETE /v1/images/{name}", map[string]string{})
	r := f.cli("image", "list")
	wantExit(t, r, 0)
	want := "NAME             KERNEL        SIZE  SOURCE           CREATED\n" +
		"debian-bookworm  bookworm-6.1  2G    build            2d ago\n" +
		"alpine-3.19      bookworm-6.1  1G    oci:alpine:3.19  2d ago\n"
	if r.stdout != want {
		t.Errorf("image list:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = f.cli("image", "ls", "--json")
	wantExit(t, r, 0)
	var imgs []api.Image
	if err := json.Unmarshal([]byte(r.stdout), &imgs); err != nil || len(imgs) != 2 || !imgs[0].Managed {
		t.Errorf("image ls --json = %+v, %v", imgs, err)
	}
	r = f.cli("image", "delete", "alpine-3.19", "old")
	wantExit(t, r, 0)
	if r.stdout != "deleted alpine-3.19\ndeleted old\n" {
		t.Errorf("image delete: %q", r.stdout)
	}
	wantReqs := []string{"GET /v1/images", "GET /v1/images", "DELETE /v1/images/alpine-3.19", "DELETE /v1/images/old"}
	if got := f.seen(); !reflect.DeepEqual(got, wantReqs) {
		t.Errorf("requests = %v, want %v", got, wantReqs)
	}
}

func TestPortsAndForwardList(t *testing.T) {
	f := newFakeDaemon(t)
	f.reply("GET /v1/vms/dev/ports", []api.Port{
		{Proto: "tcp", Address: "0.0.0.0", Port: 22, PID: 301, Process: "sshd"},
		{Proto: "udp", Address: "127.0.0.1", Port: 5353},
	})
	since := time.Now().Add(-90 * time.Second)
	f.reply("GET /v1/forwards", []api.Forward{
		{ID: 1, VM: "dev", Listen: "127.0.0.1:8080", Target: "172.30.0.2:80", Started: since},
		{ID: 2, VM: "web1", Listen: "0.0.0.0:3000", Target: "172.30.0.3:3000", Started: since},
	})
	wantOutput(t, f.cli("vm", "ports", "dev"), 0, "PROTO  ADDRESS    PORT  PID  PROCESS\n"+
		"tcp    0.0.0.0    22    301  sshd\n"+
		"udp    127.0.0.1  5353  0    \n", "")
	r := f.cli("vm", "ports", "dev", "--json")
	wantExit(t, r, 0)
	var ports []api.Port
	if err := json.Unmarshal([]byte(r.stdout), &ports); err != nil || len(ports) != 2 || ports[1].Port != 5353 {
		t.Errorf("vm ports --json = %+v, %v", ports, err)
	}

	wantOutput(t, f.cli("vm", "forward", "--list"), 0, "VM    LISTEN          TARGET           SINCE\n"+
		"dev   127.0.0.1:8080  172.30.0.2:80    1m ago\n"+
		"web1  0.0.0.0:3000    172.30.0.3:3000  1m ago\n", "")
	wantOutput(t, f.cli("vm", "forward", "--list", "web1"), 0,
		"VM    LISTEN        TARGET           SINCE\nweb1  0.0.0.0:3000  172.30.0.3:3000  1m ago\n", "")
	r = f.cli("vm", "forward", "dev")
	wantExit(t, r, 1)
	if r.stderr != "banger: usage: banger vm forward VM [HOST_ADDR:]HOST_PORT:GUEST_PORT (or --list)\n" {
		t.Errorf("vm forward with one argument: %q", r.stderr)
	}
}

func TestVMForwardStreamsUntilTheDaemonEnds(t *testing.T) {
	f := newFakeDaemon(t)
	fw := api.Forward{ID: 3, VM: "dev", Listen: "127.0.0.1:8080", Target: "172.30.0.2:80"}
	b, _ := json.Marshal(fw)
	f.stream("POST /v1/vms/dev/forwards",
		api.Event{Type: "forward", Result: b},
		api.Event{Type: "error", Error: &api.Error{Kind: api.KindFailed, Message: "VM dev stopped"}})
	wantOutput(t, f.cli("vm", "forward", "dev", "8080:80"), 1,
		"forwarding 127.0.0.1:8080 -> 172.30.0.2:80 (dev); Ctrl-C to stop\n", "banger: VM dev stopped\n")
	var req api.ForwardRequest
	f.body("POST", "/v1/vms/dev/forwards", &req)
	if req.Spec != "8080:80" {
		t.Errorf("forward request = %+v", req)
	}
}

func TestNoDaemonIsStartedWhenNoneAnswers(t *testing.T) {
	f := newFakeDaemon(t)
	f.dir = t.TempDir() // nothing listens there
	r := f.cli("vm", "list")
	wantExit(t, r, 1)
	if r.stderr != "banger: test: the CLI tried to start a daemon\n" {
		t.Errorf("stderr %q", r.stderr)
	}
}

// catalogListCmd is the `list` that images and kernels share.
func TestCatalogListCmd(t *testing.T) {
	f := newFakeDaemon(t)
	f.reply("GET /v1/kernels", []api.Kernel{{Name: "bookworm-6.1", Version: "6.1.0", Path: "/k/vmlinux", Managed: true}})
	var stdout, stderr strings.Builder
	a := f.app(&stdout, &stderr)
	var catalogJSON []bool
	newCmd := func() *cobra.Command {
		return catalogListCmd(a, "kernel", (*api.Client).ListKernels, []string{"NAME", "VERSION"}, func(k api.Kernel) []string {
			return []string{k.Name, k.Version}
		}, func(_ context.Context, _ *api.Client, asJSON bool) error {
			catalogJSON = append(catalogJSON, asJSON)
			return nil
		})
	}
	cmd := newCmd()
	if cmd.Short != "List kernels (--available: those the catalog offers)" || cmd.Flags().Lookup("available").Usage != "list the kernels the catalog offers" {
		t.Errorf("help: %q, %q", cmd.Short, cmd.Flags().Lookup("available").Usage)
	}
	for _, args := range [][]string{{}, {"--json"}, {"--available"}, {"--available", "--json"}} {
		cmd := newCmd() // flags keep their values between runs of one command
		cmd.SetArgs(args)
		if err := cmd.ExecuteContext(t.Context()); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
	}
	if !strings.HasPrefix(stdout.String(), "NAME          VERSION\nbookworm-6.1  6.1.0\n[\n  {\n    \"id\": \"\",\n    \"name\": \"bookworm-6.1\"") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	if !reflect.DeepEqual(catalogJSON, []bool{false, true}) {
		t.Errorf("catalog called with json = %v, want [false true]", catalogJSON)
	}
}

func TestVMSetStatsLogsAndDaemonStatus(t *testing.T) {
	f := newFakeDaemon(t)
	f.handle("PATCH /v1/vms/dev", func(w http.ResponseWriter, r *http.Request) {
		var req api.SetVM
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.VCPUs == nil || req.MemoryMiB != nil || req.NAT == nil {
			writeFakeJSON(w, http.StatusBadRequest, api.Error{Kind: api.KindBadRequest, Message: "unexpected set request"})
			return
		}
		writeFakeJSON(w, http.StatusOK, api.VM{Name: "dev", VCPUs: *req.VCPUs, MemoryMiB: 2048, NAT: *req.NAT})
	})
	f.reply("GET /v1/vms/dev/stats", api.Stats{Hostname: "dev", UptimeSeconds: 61, Load1: 0.5, Load5: 0.25, Load15: 0.125,
		MemTotal: 2 << 30, MemAvailable: 1536 << 20, Disks: []api.DiskUsage{{Path: "/", Total: 8 << 30, Free: 6 << 30}}})
	f.handle("GET /v1/vms/dev/logs", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "console from offset "+r.URL.Query().Get("offset")+"\n")
	})

	r := f.cli("vm", "set", "dev", "--vcpu", "4", "--nat=false")
	wantExit(t, r, 0)
	if r.stdout != "dev: 4 vcpu · 2048 MiB · nat false\n" {
		t.Errorf("vm set: %q", r.stdout)
	}
	r = f.cli("vm", "stats", "dev")
	wantExit(t, r, 0)
	want := "host:    dev, up 61s\nload:    0.50 0.25 0.12\nmemory:  1.5 GiB available of 2.0 GiB\ndisk /: 6.0 GiB free of 8.0 GiB\n"
	if r.stdout != want {
		t.Errorf("vm stats:\n%s\nwant:\n%s", r.stdout, want)
	}
	r = f.cli("vm", "logs", "dev")
	wantExit(t, r, 0)
	if r.stdout != "console from offset 0\n" {
		t.Errorf("vm logs: %q", r.stdout)
	}
	r = f.cli("daemon", "status")
	wantExit(t, r, 0)
	sock := filepath.Join(f.dir, "bangerd.sock")
	if want := "bangerd running, version test, pid 1, socket " + sock + ", log " + filepath.Join(f.dir, "bangerd.log") + "\n"; r.stdout != want {
		t.Errorf("daemon status: %q, want %q", r.stdout, want)
	}

	down := newFakeDaemon(t)
	down.dir = t.TempDir()
	r = down.cli("daemon", "status")
	wantExit(t, r, 3)
	if !strings.HasPrefix(r.stdout, "bangerd is not running (") {
		t.Errorf("daemon status without a daemon: %q", r.stdout)
	}
}
