package vm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGitIdentityScript runs the script the guest runs, with and without
// git on PATH, and reads the identity back with git.
func TestGitIdentityScript(t *testing.T) {
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed: cannot read the identity back")
	}
	g := GitIdentity{Name: `Ada "the" Lovelace \ 1815`, Email: "ada@example.org"}
	for _, withGit := range []bool{true, false} {
		home := t.TempDir()
		bin := t.TempDir()
		for _, tool := range []string{"sh", "printf"} {
			p, err := exec.LookPath(tool)
			if err != nil {
				t.Skipf("%s is not installed", tool)
			}
			if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
				t.Fatal(err)
			}
		}
		if withGit {
			if err := os.Symlink(gitBin, filepath.Join(bin, "git")); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(filepath.Join(bin, "sh"), "-c", gitIdentityScript, "sh", g.Name, g.Email, gitConfigFile(g))
		cmd.Env = []string{"HOME=" + home, "PATH=" + bin}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git=%v: script: %v: %s", withGit, err, out)
		}
		for key, want := range map[string]string{"user.name": g.Name, "user.email": g.Email} {
			out, err := exec.Command(gitBin, "config", "-f", filepath.Join(home, ".gitconfig"), key).Output()
			if err != nil {
				t.Fatalf("git=%v: read %s: %v", withGit, key, err)
			}
			if got := strings.TrimSuffix(string(out), "\n"); got != want {
				t.Errorf("git=%v: %s = %q, want %q", withGit, key, got, want)
			}
		}
	}
}
