package workspace

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: %v", tool, err)
		}
	}
}

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x",
		"HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out)
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// newRepo makes a repository with a commit, a gitignored file, an untracked
// file, a tracked modification and an executable.
func newRepo(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "proj")
	run(t, filepath.Dir(dir), "git", "init", "-q", "-b", "main", dir)
	write(t, filepath.Join(dir, "README"), "hello\n")
	write(t, filepath.Join(dir, "src", "main.go"), "package main\n")
	write(t, filepath.Join(dir, "run.sh"), "#!/bin/sh\necho run\n")
	if err := os.Chmod(filepath.Join(dir, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, ".gitignore"), "build/\n*.log\n")
	run(t, dir, "git", "add", "-A")
	run(t, dir, "git", "commit", "-q", "-m", "first")
	write(t, filepath.Join(dir, "build", "out.bin"), "ignored\n")
	write(t, filepath.Join(dir, "debug.log"), "ignored\n")
	write(t, filepath.Join(dir, "notes.txt"), "untracked\n")
	write(t, filepath.Join(dir, "README"), "hello, edited\n")
	return dir
}

func TestOpenListsTrackedOnlyByDefault(t *testing.T) {
	need(t, "git")
	dir := newRepo(t)
	r, err := Open(context.Background(), filepath.Join(dir, "src"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Root != dir || r.Name != "proj" || r.GuestPath() != "/root/proj" || r.Branch != "main" || len(r.Head) != 40 {
		t.Fatalf("repo = %+v", r)
	}
	want := []string{".gitignore", "README", "run.sh", "src/main.go"}
	if !reflect.DeepEqual(r.Files, want) {
		t.Fatalf("files = %v, want %v", r.Files, want)
	}
	r, err = Open(context.Background(), dir, Options{IncludeUntracked: true})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{".gitignore", "README", "notes.txt", "run.sh", "src/main.go"}
	if !reflect.DeepEqual(r.Files, want) {
		t.Fatalf("with untracked: files = %v, want %v (ignored files must never be listed)", r.Files, want)
	}
}

func TestOpenRefusals(t *testing.T) {
	need(t, "git")
	ctx := context.Background()
	plain := t.TempDir()
	if _, err := Open(ctx, plain, Options{}); err == nil || !strings.Contains(err.Error(), "not a git repository") {
		t.Errorf("plain dir: %v", err)
	}
	bare := filepath.Join(t.TempDir(), "bare.git")
	run(t, filepath.Dir(bare), "git", "init", "-q", "--bare", bare)
	if _, err := Open(ctx, bare, Options{}); err == nil || !strings.Contains(err.Error(), "bare repository") {
		t.Errorf("bare: %v", err)
	}
	if _, err := Open(ctx, filepath.Join(plain, "missing"), Options{}); err == nil {
		t.Error("missing path accepted")
	}
	dir := newRepo(t)
	if _, err := Open(ctx, dir, Options{From: "no-such-rev"}); err == nil || !strings.Contains(err.Error(), "no such commit") {
		t.Errorf("bad --from: %v", err)
	}
	if _, err := Open(ctx, dir, Options{Branch: "bad..name"}); err == nil || !strings.Contains(err.Error(), "not a valid branch") {
		t.Errorf("bad --branch: %v", err)
	}
}

// guest runs a workspace script locally, as the guest would over ssh.
func guest(t *testing.T, script string, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command("sh", append([]string{"-c", script, "banger"}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=g", "GIT_AUTHOR_EMAIL=g@x", "GIT_COMMITTER_NAME=g", "GIT_COMMITTER_EMAIL=g@x")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("script: %v\n%s", err, stderr.String())
	}
	return string(out)
}

func TestSyncAndExportRoundTrip(t *testing.T) {
	need(t, "git", "tar", "sh")
	ctx := context.Background()
	host := newRepo(t)
	r, err := Open(ctx, host, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pack bytes.Buffer
	if err := r.Pack(ctx, &pack); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "root", r.Name)
	guest(t, SyncScript, pack.Bytes(), dest, r.Branch, r.Head, "")

	// The guest sees the host's working tree: the same status, history,
	// modes, and no ignored files.
	if got, want := run(t, dest, "git", "status", "--short"), run(t, host, "git", "status", "--short", "--untracked-files=no"); got != want {
		t.Errorf("guest status %q, host status %q", got, want)
	}
	if log := run(t, dest, "git", "log", "--oneline"); !strings.Contains(log, "first") {
		t.Errorf("guest log lacks history: %q", log)
	}
	if st, err := os.Stat(filepath.Join(dest, "run.sh")); err != nil || st.Mode().Perm()&0o100 == 0 {
		t.Errorf("run.sh lost its exec bit: %v %v", st, err)
	}
	for _, f := range []string{"debug.log", "build/out.bin", "notes.txt"} {
		if _, err := os.Stat(filepath.Join(dest, f)); err == nil {
			t.Errorf("%s was copied", f)
		}
	}
	if b := strings.TrimSpace(run(t, dest, "git", "branch", "--show-current")); b != "main" {
		t.Errorf("guest branch %q", b)
	}

	// Work in the guest: an edit, a new file, and a commit.
	write(t, filepath.Join(dest, "src", "main.go"), "package main\n\nfunc main() {}\n")
	run(t, dest, "git", "commit", "-q", "-am", "guest commit")
	write(t, filepath.Join(dest, "NEW"), "new file\n")
	indexBefore, _ := os.ReadFile(filepath.Join(dest, ".git", "index"))
	statusBefore := run(t, dest, "git", "status", "--porcelain")

	patch := guest(t, ExportScript, nil, dest, r.Head)
	if !strings.Contains(patch, "NEW") || !strings.Contains(patch, "func main") || !strings.Contains(patch, "hello, edited") {
		t.Fatalf("patch misses changes:\n%s", patch)
	}
	indexAfter, _ := os.ReadFile(filepath.Join(dest, ".git", "index"))
	if !bytes.Equal(indexBefore, indexAfter) || run(t, dest, "git", "status", "--porcelain") != statusBefore {
		t.Fatal("export changed the guest's index or working tree")
	}

	// The patch applies cleanly to a fresh clone of the host repository.
	clone := filepath.Join(t.TempDir(), "clone")
	run(t, host, "git", "clone", "-q", host, clone)
	pf := filepath.Join(t.TempDir(), "p.diff")
	write(t, pf, patch)
	run(t, clone, "git", "apply", "--index", pf)
	if b, _ := os.ReadFile(filepath.Join(clone, "NEW")); string(b) != "new file\n" {
		t.Errorf("NEW after apply = %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(clone, "README")); string(b) != "hello, edited\n" {
		t.Errorf("README after apply = %q", b)
	}

	// Without a base commit, only the uncommitted work is exported.
	patch = guest(t, ExportScript, nil, dest, "")
	if strings.Contains(patch, "func main") || !strings.Contains(patch, "NEW") {
		t.Errorf("uncommitted-only patch:\n%s", patch)
	}
}

func TestSyncFromRevision(t *testing.T) {
	need(t, "git", "tar", "sh")
	ctx := context.Background()
	host := newRepo(t)
	first := strings.TrimSpace(run(t, host, "git", "rev-parse", "HEAD"))
	run(t, host, "git", "commit", "-q", "-am", "second")
	r, err := Open(ctx, host, Options{From: first, Branch: "try"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Files) != 0 || r.Head != first {
		t.Fatalf("--from should copy no working-tree files: %+v", r)
	}
	var pack bytes.Buffer
	if err := r.Pack(ctx, &pack); err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "proj")
	guest(t, SyncScript, pack.Bytes(), dest, r.Branch, r.Head, "from")
	if b, _ := os.ReadFile(filepath.Join(dest, "README")); string(b) != "hello\n" {
		t.Errorf("README at --from = %q", b)
	}
	if s := run(t, dest, "git", "status", "--short"); s != "" {
		t.Errorf("status at --from not clean: %q", s)
	}
	if b := strings.TrimSpace(run(t, dest, "git", "branch", "--show-current")); b != "try" {
		t.Errorf("branch %q, want try", b)
	}
}

func TestExecScriptPassesArgumentsAsGiven(t *testing.T) {
	need(t, "sh")
	dir := t.TempDir()
	out := guest(t, ExecScript, nil, dir, "sh", "-c", `pwd; printf '[%s]' "$@"`, "x", "a b", `q"uote`, "it's", "")
	if !strings.HasPrefix(out, dir+"\n") || !strings.HasSuffix(out, `[a b][q"uote][it's][]`) {
		t.Errorf("exec output %q", out)
	}
}
