package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func gitRun(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Host User", "GIT_AUTHOR_EMAIL=host@example.com",
		"GIT_COMMITTER_NAME=Host User", "GIT_COMMITTER_EMAIL=host@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestWorkspaceAndExec boots one VM and covers the workspace round trip
// and vm exec's argument passing, exit codes and separate streams.
func TestWorkspaceAndExec(t *testing.T) {
	e := newEnv(t, "ws")
	repo := filepath.Join(t.TempDir(), "demo")
	gitRun(t, filepath.Dir(repo), "init", "-q", "-b", "main", repo)
	gitRun(t, repo, "config", "user.name", "Host User")
	gitRun(t, repo, "config", "user.email", "host@example.com")
	for name, data := range map[string]string{"README.md": "demo\n", "src/lib.sh": "echo lib\n", ".gitignore": "*.log\n"} {
		p := filepath.Join(repo, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(data), 0o644)
	}
	gitRun(t, repo, "add", "-A")
	gitRun(t, repo, "commit", "-q", "-m", "initial")
	os.WriteFile(filepath.Join(repo, "debug.log"), []byte("ignored\n"), 0o644)
	os.WriteFile(filepath.Join(repo, "scratch.txt"), []byte("untracked\n"), 0o644)

	// --dry-run lists the files and creates nothing.
	out := e.ok("vm", "run", repo, "--dry-run")
	if out != ".gitignore\nREADME.md\nsrc/lib.sh\n" {
		t.Errorf("--dry-run printed %q", out)
	}
	if out := e.ok("vm", "run", repo, "--dry-run", "--include-untracked"); !strings.Contains(out, "scratch.txt") || strings.Contains(out, "debug.log") {
		t.Errorf("--dry-run --include-untracked printed %q", out)
	}
	if len(e.list()) != 0 {
		t.Fatal("--dry-run created a VM")
	}
	// Not a repository: a clear error before anything is created.
	if out, code := e.banger(context.Background(), true, "vm", "run", t.TempDir(), "--", "true"); code == 0 || !strings.Contains(out, "not a git repository") {
		t.Errorf("non-repo: exit %d, %q", code, out)
	}

	// A VM whose command runs in the copied repository.
	out = e.ok("vm", "run", repo, "--name", "e2e-ws", "--", "git", "status", "--short")
	if strings.Contains(out, "??") || strings.Contains(out, " M ") {
		t.Errorf("status in the guest is not clean: %q", out)
	}
	vms := e.list()
	if len(vms) != 1 {
		t.Fatalf("vms: %+v", vms)
	}
	show := e.ok("vm", "show", "e2e-ws", "--json")
	if !strings.Contains(show, `"guest_path": "/root/demo"`) || !strings.Contains(show, `"host_path": "`+repo+`"`) {
		t.Errorf("vm show lacks the workspace:\n%s", show)
	}

	// vm exec: default directory is the workspace, args pass as given.
	if out := e.ok("vm", "exec", "e2e-ws", "--", "pwd"); strings.TrimSpace(out) != "/root/demo" {
		t.Errorf("exec pwd = %q", out)
	}
	out = e.ok("vm", "exec", "e2e-ws", "--", "printf", "[%s]", "a b", `it's`, `q"uote`, "$HOME", "")
	if out != `[a b][it's][q"uote][$HOME][]` {
		t.Errorf("exec quoting: %q", out)
	}
	if _, code := e.banger(context.Background(), true, "vm", "exec", "e2e-ws", "--", "sh", "-c", "exit 42"); code != 42 {
		t.Errorf("exec exit code %d, want 42", code)
	}
	// stdout and stderr stay apart.
	cmd := exec.Command("ip", "netns", "exec", e.netns, filepath.Join(e.bin, "banger"), "--config", e.cfgPath,
		"vm", "exec", "e2e-ws", "--guest-path", "/tmp", "--", "sh", "-c", "pwd; echo to-err >&2")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("exec with streams: %v (%s)", err, stderr.String())
	}
	if stdout.String() != "/tmp\n" || !strings.Contains(stderr.String(), "to-err") || strings.Contains(stdout.String(), "to-err") {
		t.Errorf("streams mixed: stdout %q stderr %q", stdout.String(), stderr.String())
	}
	// The host's git identity is set in the guest.
	if out := e.ok("vm", "exec", "e2e-ws", "--", "git", "config", "--global", "user.email"); strings.TrimSpace(out) != "host@example.com" {
		t.Errorf("guest git user.email = %q", out)
	}

	// Work in the guest: an edit, a commit, and an uncommitted new file.
	e.ok("vm", "exec", "e2e-ws", "--", "sh", "-c",
		"echo 'more docs' >> README.md && git commit -qam 'guest edit' && echo fresh > added.txt")
	base := strings.TrimSpace(gitRun(t, repo, "rev-parse", "HEAD"))
	before := e.ok("vm", "exec", "e2e-ws", "--", "git", "status", "--porcelain")
	patch := e.ok("vm", "workspace", "export", "e2e-ws", "--base-commit", base)
	after := e.ok("vm", "exec", "e2e-ws", "--", "git", "status", "--porcelain")
	if before != after {
		t.Errorf("export changed the guest's status: %q -> %q", before, after)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	gitRun(t, repo, "clone", "-q", repo, clone)
	pf := filepath.Join(t.TempDir(), "ws.patch")
	os.WriteFile(pf, []byte(patch), 0o644)
	gitRun(t, clone, "apply", "--check", pf)
	gitRun(t, clone, "apply", pf)
	if b, _ := os.ReadFile(filepath.Join(clone, "README.md")); string(b) != "demo\nmore docs\n" {
		t.Errorf("README.md after apply = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(clone, "added.txt")); string(b) != "fresh\n" {
		t.Errorf("added.txt after apply = %q", b)
	}
	checkAgentNamesAndForward(t, e, vms[0])
	checkReadyWithoutSSHD(t, e, "e2e-ws")

	id := vms[0].ID
	e.ok("vm", "delete", "e2e-ws")
	e.assertNoTrace(id)
	if b, _ := os.ReadFile(filepath.Join(e.state, "ssh", "config")); strings.Contains(string(b), "e2e-ws.vm") {
		t.Errorf("ssh config still names the deleted VM:\n%s", b)
	}
}
