package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/config"
	"banger/internal/remote"
)

// TestHelperDialStdio is the fake remote end of TestRemoteHostFlag: run as
// a child by the fake ssh, it is `banger system dial-stdio` on the socket
// in $BANGER_TEST_DIAL_SOCKET.
func TestHelperDialStdio(t *testing.T) {
	sock := os.Getenv("BANGER_TEST_DIAL_SOCKET")
	if sock == "" {
		t.Skip("only run as the fake ssh's child by TestRemoteHostFlag")
	}
	if err := remote.DialStdio(context.Background(), sock, os.Stdin, os.Stdout); err != nil {
		t.Fatal(err)
	}
	os.Exit(0) // nothing of the test runner's on stdout, the daemon's pipe

}

// fakeRemoteSSH puts an ssh first on PATH that records its argv in the returned
// file and joins its stdin and stdout to f's socket, as ssh to a host
// running `banger system dial-stdio` would.
func fakeRemoteSSH(t *testing.T, f *fakeDaemon) string {
	t.Helper()
	dir := t.TempDir()
	argv := filepath.Join(dir, "argv")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" >> " + argv + "\nBANGER_TEST_DIAL_SOCKET=" +
		filepath.Join(f.dir, "bangerd.sock") + " exec " + self + " -test.run=^TestHelperDialStdio$\n"
	if err := os.WriteFile(filepath.Join(dir, "ssh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	return argv
}

// TestRemoteHostFlag: with --host the CLI reaches the daemon through ssh
// and dial-stdio, not the local socket (there is none), and starts no
// daemon.
func TestRemoteHostFlag(t *testing.T) {
	f := newFakeDaemon(t)
	f.reply("GET /v1/vms", []api.VM{{Name: "far-away"}})
	argvFile := fakeRemoteSSH(t, f)
	var stdout, stderr strings.Builder
	a := f.app(&stdout, &stderr)
	a.cfg = &config.Config{RuntimeDir: t.TempDir(), StateDir: t.TempDir()} // no local daemon
	code := a.main(t.Context(), []string{"--host", "ssh://root@example.test:2222", "vm", "list"})
	if code != 0 || !strings.Contains(stdout.String(), "far-away") {
		t.Fatalf("vm list over --host: exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	argv, _ := os.ReadFile(argvFile)
	if !strings.Contains(string(argv), "-p\n2222\n") || !strings.Contains(string(argv), "--\nroot@example.test\nbanger system dial-stdio\n") {
		t.Fatalf("ssh argv:\n%s", argv)
	}
}

// TestRemoteHostEnv: $BANGER_HOST names the host when --host is not given,
// and a bad one is an error, not a fall back to the local daemon.
func TestRemoteHostEnv(t *testing.T) {
	f := newFakeDaemon(t)
	var stdout, stderr strings.Builder
	a := f.app(&stdout, &stderr)
	a.getenv = func(k string) string {
		if k == "BANGER_HOST" {
			return "tcp://nope"
		}
		return ""
	}
	code := a.main(t.Context(), []string{"vm", "list"})
	if code == 0 || !strings.Contains(stderr.String(), "only ssh://") {
		t.Fatalf("bad BANGER_HOST: exit %d, stderr %q", code, stderr.String())
	}
}

// TestContexts: create, use, ls and rm keep named hosts in the user's
// config directory, and the current one is the daemon commands reach
// (through the fake ssh) until `context use default`.
func TestContexts(t *testing.T) {
	f := newFakeDaemon(t)
	f.reply("GET /v1/vms", []api.VM{{Name: "far-away"}})
	argvFile := fakeRemoteSSH(t, f)
	home := t.TempDir()
	run := func(args ...string) cliRun {
		t.Helper()
		var stdout, stderr strings.Builder
		a := f.app(&stdout, &stderr)
		a.cfg = &config.Config{RuntimeDir: t.TempDir(), StateDir: t.TempDir()} // no local daemon
		a.getenv = func(k string) string {
			if k == "HOME" {
				return home
			}
			return ""
		}
		code := a.main(t.Context(), args)
		return cliRun{stdout: stdout.String(), stderr: stderr.String(), code: code}
	}
	if r := run("context", "create", "box", "--host", "ssh://me@box.test:2200"); r.code != 0 {
		t.Fatalf("create: %+v", r)
	}
	if r := run("context", "create", "box", "--host", "ssh://me@other"); r.code == 0 {
		t.Fatalf("create of an existing name succeeded")
	}
	if r := run("context", "create", "-bad", "--host", "ssh://h"); r.code == 0 {
		t.Fatalf("create of a bad name succeeded")
	}
	if r := run("context", "use", "box"); r.code != 0 {
		t.Fatalf("use: %+v", r)
	}
	if r := run("context", "ls"); !strings.Contains(r.stdout, "box *") || !strings.Contains(r.stdout, "ssh://me@box.test:2200") {
		t.Fatalf("ls:\n%s", r.stdout)
	}
	if r := run("vm", "list"); r.code != 0 || !strings.Contains(r.stdout, "far-away") {
		t.Fatalf("vm list through the current context: %+v", r)
	}
	if argv, _ := os.ReadFile(argvFile); !strings.Contains(string(argv), "me@box.test") {
		t.Fatalf("ssh argv:\n%s", argv)
	}
	if r := run("context", "rm", "box"); r.code != 0 {
		t.Fatalf("rm: %+v", r)
	}
	if r := run("context", "ls"); strings.Contains(r.stdout, "box") || !strings.Contains(r.stdout, "default *") {
		t.Fatalf("ls after rm:\n%s", r.stdout)
	}
	if st, err := os.Stat(filepath.Join(home, ".config", "banger", "contexts.json")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("contexts file: %v %v", st, err)
	}
}

// TestRemoteDaemonStatus: daemon status over --host names the remote
// daemon, not the local log.
func TestRemoteDaemonStatus(t *testing.T) {
	f := newFakeDaemon(t)
	fakeRemoteSSH(t, f)
	var stdout, stderr strings.Builder
	a := f.app(&stdout, &stderr)
	a.cfg = &config.Config{RuntimeDir: t.TempDir(), StateDir: t.TempDir()}
	code := a.main(t.Context(), []string{"--host", "ssh://root@example.test", "daemon", "status"})
	if code != 0 || !strings.Contains(stdout.String(), "bangerd running on ssh://root@example.test") {
		t.Fatalf("daemon status over --host: exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
}
