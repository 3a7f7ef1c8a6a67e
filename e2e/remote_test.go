package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// remoteAddr is the daemon namespace's end of the veth pair between the
// client's namespace and the daemon's; sshd listens there.
const (
	remoteAddr     = "192.168.231.2"
	clientAddr     = "192.168.231.1"
	remoteSSHDPort = "2222"
)

// TestRemoteHost runs the CLI in a namespace of its own, with no daemon of
// its own, against the bangerd of newEnv's namespace through sshd there:
// `banger --host ssh://root@ADDR:PORT vm run --rm -- sh -c 'exit 3'`
// creates the VM on the remote daemon, runs the command and exits 3.
func TestRemoteHost(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
		t.Skip("needs sshd (openssh-server; scripts/deps.sh --dev installs it)")
	}
	e := newEnv(t, "remote")
	dir := t.TempDir()
	clientNS := e.netns + "-c"
	remoteNet(t, e.netns, clientNS)
	startSSHD(t, e, dir)

	// The client: its own config (no daemon answers on its socket) and an
	// ssh that reads the test's ssh config, as the user's would be read.
	clientCfg := filepath.Join(dir, "client.toml")
	writeFile(t, clientCfg, fmt.Sprintf("state_dir = %q\nruntime_dir = %q\n", filepath.Join(dir, "cstate"), filepath.Join(dir, "crun")), 0o600)
	sshCfg := filepath.Join(dir, "ssh_config")
	writeFile(t, sshCfg, fmt.Sprintf("Host %s\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n"+
		"  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n",
		remoteAddr, filepath.Join(dir, "user_key"), filepath.Join(dir, "known_hosts")), 0o600)
	wrap := filepath.Join(dir, "bin")
	if err := os.Mkdir(wrap, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(wrap, "ssh"), fmt.Sprintf("#!/bin/sh\nexec /usr/bin/ssh -F %s \"$@\"\n", sshCfg), 0o755)
	host := "ssh://root@" + remoteAddr + ":" + remoteSSHDPort
	clientCmd := func(ctx context.Context, args ...string) *exec.Cmd {
		argv := append([]string{"netns", "exec", clientNS, filepath.Join(e.bin, "banger"), "--config", clientCfg, "--host", host}, args...)
		cmd := exec.CommandContext(ctx, "ip", argv...)
		cmd.Env = append(os.Environ(), "PATH="+wrap+":"+os.Getenv("PATH"))
		return cmd
	}
	client := func(args ...string) (string, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := clientCmd(ctx, args...)
		cmd.Stdin = strings.NewReader("")
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		} else if err != nil {
			t.Fatalf("run banger %v: %v", args, err)
		}
		return string(out), 0
	}

	out, code := client("vm", "run", "--rm", "--name", "e2e-remote", "--", "sh", "-c", "echo on-remote; exit 3")
	if code != 3 || !strings.Contains(out, "on-remote") {
		t.Fatalf("remote vm run: exit %d, want 3 with the command's output\n%s\ndaemon log:\n%s", code, out, e.daemonLog())
	}
	t.Logf("remote vm run (exit %d):\n%s", code, out)
	for _, v := range e.list() {
		if v.Name == "e2e-remote" {
			t.Fatalf("--rm left VM %s on the remote daemon", v.Name)
		}
	}
	remoteWorkspace(t, e, client, func(vm string) { remoteForward(t, clientNS, vm, client, clientCmd) })
	remoteUI(t, clientNS, clientCmd)
	if _, err := os.Stat(filepath.Join(dir, "crun")); err == nil {
		t.Fatalf("the client made a runtime directory: it must not start a local daemon")
	}
}

// remoteWorkspace copies a checkout packed on the client into a VM of the
// remote daemon, changes it there, exports the diff back through the
// remote daemon, and deletes the VM.
func remoteWorkspace(t *testing.T, e *env, client func(args ...string) (string, int), withVM func(vm string)) {
	t.Helper()
	repo := filepath.Join(t.TempDir(), "demo")
	gitRun(t, filepath.Dir(repo), "init", "-q", "-b", "main", repo)
	writeFile(t, filepath.Join(repo, "README.md"), "demo\n", 0o644)
	gitRun(t, repo, "add", "-A")
	gitRun(t, repo, "commit", "-q", "-m", "initial")
	must := func(args ...string) string {
		t.Helper()
		out, code := client(args...)
		if code != 0 {
			t.Fatalf("remote banger %s: exit %d\n%s\ndaemon log:\n%s", strings.Join(args, " "), code, out, e.daemonLog())
		}
		return out
	}
	if out := must("vm", "run", repo, "--name", "e2e-remote-ws", "--", "cat", "README.md"); !strings.Contains(out, "demo") {
		t.Fatalf("workspace run printed %q", out)
	}
	if out := must("vm", "list"); !strings.Contains(out, "e2e-remote-ws") {
		t.Fatalf("remote vm list lacks the VM:\n%s", out)
	}
	must("vm", "exec", "e2e-remote-ws", "--", "sh", "-c", "echo 'from the guest' >> README.md")
	if patch := must("vm", "workspace", "export", "e2e-remote-ws"); !strings.Contains(patch, "+from the guest") {
		t.Fatalf("exported patch lacks the guest's edit:\n%s", patch)
	}
	withVM("e2e-remote-ws")
	must("vm", "delete", "e2e-remote-ws")
	if vms := e.list(); len(vms) != 0 {
		t.Fatalf("VMs left on the remote daemon: %+v", vms)
	}
}

// remoteForward forwards a port of the client's namespace to a port of
// the remote daemon's VM vm (ssh -L through the test's sshd) and reads
// what a server in the guest says through it.
func remoteForward(t *testing.T, clientNS, vm string, client func(args ...string) (string, int), clientCmd func(context.Context, ...string) *exec.Cmd) {
	t.Helper()
	if out, code := client("vm", "ssh", vm, "--", "sh", "-c", guestServer); code != 0 {
		t.Fatalf("start a server in the guest: exit %d\n%s", code, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	line, stop := startUntilLine(t, clientCmd(ctx, "vm", "forward", vm, "0:8080"))
	defer stop()
	if !strings.HasPrefix(line, "forwarding 127.0.0.1:") {
		t.Fatalf("remote vm forward printed %q", line)
	}
	listen := strings.Fields(line)[1]
	var got string
	waitFor(t, 30*time.Second, "the guest's answer through the ssh forward "+listen, func() (bool, string) {
		if err := withNetns(clientNS, func() {
			c, err := net.DialTimeout("tcp", listen, 5*time.Second)
			if err != nil {
				got = err.Error()
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			b, _ := io.ReadAll(c)
			got = string(b)
		}); err != nil {
			t.Fatal(err)
		}
		return got == "hello from guest\n", got
	})
	t.Logf("remote forward: %s", strings.TrimSpace(line))
}

// startUntilLine starts cmd (in a process group of its own) and returns
// the first line it prints and a stop that interrupts it (Ctrl-C) and
// waits for it.
func startUntilLine(t *testing.T, cmd *exec.Cmd) (string, func()) {
	t.Helper()
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); _ = cmd.Wait() }
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop()
		t.Fatalf("%v printed no line: %v", cmd.Args, err)
	}
	return line, stop
}

// remoteUI runs `banger --host ... ui` in the client's namespace and logs
// in with the link it prints, through its ssh tunnel to the remote UI.
func remoteUI(t *testing.T, clientNS string, clientCmd func(context.Context, ...string) *exec.Cmd) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	link, stop := startUntilLine(t, clientCmd(ctx, "ui", "--no-open"))
	defer stop()
	link = strings.TrimSpace(link)
	if !strings.Contains(link, "/login?token=") {
		t.Fatalf("remote banger ui printed %q", link)
	}
	// One request on a connection made in the client's namespace (an
	// http.Client would dial from another goroutine, outside it).
	var resp *http.Response
	if err := withNetns(clientNS, func() {
		u, _ := url.Parse(link)
		c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
		if err != nil {
			t.Errorf("dial the tunnel %s: %v", u.Host, err)
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(15 * time.Second))
		req, _ := http.NewRequest("GET", link, nil)
		if err := req.Write(c); err != nil {
			t.Errorf("send the login request: %v", err)
			return
		}
		if resp, err = http.ReadResponse(bufio.NewReader(c), req); err != nil {
			t.Errorf("read the login answer: %v", err)
		}
	}); err != nil || resp == nil {
		t.Fatalf("login through the tunnel failed (%v)", err)
	}
	var session bool
	for _, ck := range resp.Cookies() {
		session = session || (ck.HttpOnly && ck.Value != "")
	}
	if resp.StatusCode != http.StatusSeeOther || !session {
		t.Fatalf("the remote UI's login through the tunnel: %s, cookies %v; want 303 with a session cookie", resp.Status, resp.Cookies())
	}
	t.Logf("remote ui: logged in through %s", link[:strings.Index(link, "/login")])
}

func writeFile(t *testing.T, path, body string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
}

// remoteNet makes clientNS and a veth pair between it and daemonNS.
func remoteNet(t *testing.T, daemonNS, clientNS string) {
	t.Helper()
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	run("netns", "add", clientNS)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", clientNS).Run() })
	run("-n", clientNS, "link", "set", "lo", "up")
	run("-n", clientNS, "link", "add", "bgrm-c", "type", "veth", "peer", "name", "bgrm-s", "netns", daemonNS)
	run("-n", clientNS, "addr", "add", clientAddr+"/30", "dev", "bgrm-c")
	run("-n", daemonNS, "addr", "add", remoteAddr+"/30", "dev", "bgrm-s")
	run("-n", clientNS, "link", "set", "bgrm-c", "up")
	run("-n", daemonNS, "link", "set", "bgrm-s", "up")
}

// startSSHD runs an sshd of the test's own in e's namespace: its own port,
// config, host key and authorized key, with banger and e's config in the
// sessions' environment.
func startSSHD(t *testing.T, e *env, dir string) {
	t.Helper()
	for _, k := range []string{"host_key", "user_key"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "banger-e2e", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	hostPub, err := os.ReadFile(filepath.Join(dir, "host_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	userPub, err := os.ReadFile(filepath.Join(dir, "user_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "known_hosts"), fmt.Sprintf("[%s]:%s %s", remoteAddr, remoteSSHDPort, hostPub), 0o600)
	writeFile(t, filepath.Join(dir, "authorized_keys"), string(userPub), 0o600)
	conf := filepath.Join(dir, "sshd_config")
	writeFile(t, conf, fmt.Sprintf("Port %s\nListenAddress %s\nHostKey %s\nAuthorizedKeysFile %s\nPidFile %s\n"+
		"PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"+
		"StrictModes no\nSetEnv PATH=%s:/usr/sbin:/usr/bin:/sbin:/bin BANGER_CONFIG=%s\n",
		remoteSSHDPort, remoteAddr, filepath.Join(dir, "host_key"), filepath.Join(dir, "authorized_keys"),
		filepath.Join(dir, "sshd.pid"), e.bin, e.cfgPath), 0o600)
	// sshd's privilege separation directory, as its package makes it.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	startProc(t, e.netns, filepath.Join(dir, "sshd.log"), "/usr/sbin/sshd", "-D", "-e", "-f", conf)
	waitFor(t, 15*time.Second, "sshd listening", func() (bool, string) {
		b, _ := os.ReadFile(filepath.Join(dir, "sshd.log"))
		return strings.Contains(string(b), "Server listening"), string(b)
	})
}
