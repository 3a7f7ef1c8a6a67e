package cli

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/buildinfo"
	"banger/internal/config"
)

// noDaemon runs the CLI with a config whose socket nothing listens on; a
// CLI that tries to start a daemon fails.
func noDaemon(t *testing.T, args ...string) cliRun {
	t.Helper()
	dir, err := os.MkdirTemp("", "bcli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	var stdout, stderr strings.Builder
	a := &app{stdout: &stdout, stderr: &stderr, stdin: strings.NewReader(""), getenv: func(string) string { return "" },
		cfg: &config.Config{RuntimeDir: dir, StateDir: dir},
		start: func(context.Context) error {
			return errors.New("test: the CLI tried to start a daemon")
		}}
	code := a.main(t.Context(), args)
	return cliRun{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

func TestVersionClientAndServer(t *testing.T) {
	f := newFakeDaemon(t)
	r := f.cli("version")
	wantExit(t, r, 0)
	client := buildinfo.Read(buildinfo.Version)
	for _, want := range []string{"Client:\n Version:     " + client.Version + "\n", " API version: v1\n",
		" Go version:  " + client.GoVersion + "\n", " OS/Arch:     " + client.OS + "/" + client.Arch + "\n",
		"\nServer: bangerd\n Version: test\n PID:     1\n Socket:  " + f.dir + "/bangerd.sock\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("banger version does not print %q:\n%s", want, r.stdout)
		}
	}
	if r.stderr != "" {
		t.Errorf("stderr %q", r.stderr)
	}
}

func TestVersionJSON(t *testing.T) {
	f := newFakeDaemon(t)
	r := f.cli("version", "--json")
	wantExit(t, r, 0)
	var got struct {
		Client map[string]any `json:"client"`
		Server *api.Ping      `json:"server"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("version --json: %v\n%s", err, r.stdout)
	}
	client := buildinfo.Read(buildinfo.Version)
	if got.Client["version"] != client.Version || got.Client["api_version"] != api.Version || got.Client["go_version"] != client.GoVersion ||
		got.Client["os"] != client.OS || got.Client["arch"] != client.Arch {
		t.Errorf("client = %v, want %+v", got.Client, client)
	}
	if got.Server == nil || got.Server.Version != "test" || got.Server.PID != 1 {
		t.Errorf("server = %+v, want the fake's ping", got.Server)
	}
}

// Like `docker version`: without a daemon, the client part, then an error;
// the daemon is not started.
func TestVersionWithoutDaemon(t *testing.T) {
	r := noDaemon(t, "version")
	wantExit(t, r, 1)
	if !strings.HasPrefix(r.stdout, "Client:\n Version: ") || strings.Contains(r.stdout, "Server") {
		t.Errorf("stdout:\n%s\nwant the client part only", r.stdout)
	}
	if !strings.HasPrefix(r.stderr, "banger: cannot reach bangerd for its version: bangerd is not running") {
		t.Errorf("stderr %q", r.stderr)
	}

	r = noDaemon(t, "version", "--json")
	wantExit(t, r, 1)
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("version --json: %v\n%s", err, r.stdout)
	}
	if s, ok := got["server"]; !ok || s != nil || got["client"] == nil {
		t.Errorf("version --json without a daemon = %v, want a client and \"server\": null", got)
	}
}

func TestPrintVersions(t *testing.T) {
	r := versionReport{
		Client: clientVersion{Info: buildinfo.Info{Version: "v1.2.0", Commit: "0123456789abcdef", Modified: true, GoVersion: "go1.26.8", OS: "linux", Arch: "amd64"}, APIVersion: "v1"},
		Server: &api.Ping{Version: "v1.1.0", PID: 42, Socket: "/run/banger/bangerd.sock", APIVersion: "v1", Commit: "fedcba9876543210",
			GoVersion: "go1.26.7", OS: "linux", Arch: "arm64"},
	}
	var b strings.Builder
	if err := printVersions(&b, r); err != nil {
		t.Fatal(err)
	}
	want := "Client:\n" +
		" Version:     v1.2.0\n" +
		" API version: v1\n" +
		" Git commit:  0123456789ab (modified)\n" +
		" Go version:  go1.26.8\n" +
		" OS/Arch:     linux/amd64\n" +
		"\n" +
		"Server: bangerd\n" +
		" Version:     v1.1.0\n" +
		" API version: v1\n" +
		" Git commit:  fedcba987654\n" +
		" Go version:  go1.26.7\n" +
		" OS/Arch:     linux/arm64\n" +
		" PID:         42\n" +
		" Socket:      /run/banger/bangerd.sock\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
