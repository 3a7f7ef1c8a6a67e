package node

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"banger/internal/kube/v1alpha1"
)

func TestParseWait(t *testing.T) {
	cases := []struct {
		in      string
		want    exited
		wantErr bool
	}{
		{"running\n", exited{}, false},
		{"exit 3\nlast words\n", exited{done: true, code: 3, output: "last words\n"}, false},
		{"exit 0\n", exited{done: true}, false},
		{"exit 300\n", exited{}, true},
		{"exit x\n", exited{}, true},
		{"hello\n", exited{}, true},
	}
	for _, c := range cases {
		got, err := parseWait(c.in)
		if (err != nil) != c.wantErr || got != c.want {
			t.Errorf("parseWait(%q) = %+v, %v; want %+v (error %v)", c.in, got, err, c.want, c.wantErr)
		}
	}
}

func TestCheckGitURL(t *testing.T) {
	https := []string{"https"}
	for _, bad := range []string{"http://example.com/r.git", "file:///etc", "ext::sh -c id", "https://user:pw@example.com/r.git", "-uhttps://x", "git@example.com:r.git"} {
		if err := checkGitURL(bad, https); err == nil {
			t.Errorf("checkGitURL(%q) accepted it", bad)
		}
	}
	if err := checkGitURL("https://example.com/r.git", https); err != nil {
		t.Errorf("a plain https URL: %v", err)
	}
}

// TestCloneWorkspace clones a local repository (the test allows the file
// scheme; the agent allows https only) and checks the archive holds its
// tree at the ref asked for.
func TestCloneWorkspace(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	repo := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@e"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	git("init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(repo, "hello.txt"), []byte("v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("add", ".")
	git("commit", "-qm", "one")
	git("branch", "release")
	if err := os.WriteFile(filepath.Join(repo, "hello.txt"), []byte("v2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("commit", "-qam", "two")
	var cred *syscall.Credential
	if os.Geteuid() == 0 { // as the agent does: git runs as nobody
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		if err := os.Chmod(filepath.Dir(repo), 0o755); err != nil {
			t.Fatal(err)
		}
		// git serves a local repository only to its owner.
		if err := filepath.Walk(repo, func(p string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, 65534, 65534)
		}); err != nil {
			t.Fatal(err)
		}
	}
	ws, err := cloneWorkspace(context.Background(), v1alpha1.GitSource{URL: "file://" + repo, Ref: "release"}, []string{"file"}, cred)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(ws.r)
	found := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "hello.txt" {
			b, _ := io.ReadAll(tr)
			found = string(b)
		}
	}
	if err := ws.done(); err != nil {
		t.Fatal(err)
	}
	if found != "v1\n" {
		t.Errorf("hello.txt in the archive = %q, want the release branch's v1", found)
	}
	if _, err := cloneWorkspace(context.Background(), v1alpha1.GitSource{URL: "file://" + repo}, []string{"https"}, nil); err == nil || !strings.Contains(err.Error(), "https") || !isPermanent(err) {
		t.Errorf("a file URL with https only allowed: %v, want a refusal", err)
	}
}
