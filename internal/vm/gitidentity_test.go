package vm

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runGitScript runs gitIdentityScript with the host's sh in a fresh HOME.
func runGitScript(t *testing.T, home string, g GitIdentity) {
	t.Helper()
	cmd := exec.Command("sh", "-c", gitIdentityScript, "sh", g.Name, g.Email, gitConfigFile(g))
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH")}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("script: %v: %s", err, out)
	}
}

func TestGitIdentityScriptNewHome(t *testing.T) {
	home := t.TempDir()
	g := GitIdentity{Name: `Dev "Q" Eloper`, Email: "dev@example.com"}
	runGitScript(t, home, g)
	b, err := os.ReadFile(filepath.Join(home, ".gitconfig"))
	if err != nil || string(b) != gitConfigFile(g) {
		t.Fatalf(".gitconfig = %q, %v; want %q", b, err, gitConfigFile(g))
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git on this host to read the file back")
	}
	out, err := exec.Command("git", "config", "--file", filepath.Join(home, ".gitconfig"), "user.name").Output()
	if err != nil || strings.TrimSpace(string(out)) != g.Name {
		t.Errorf("git reads user.name %q, %v", out, err)
	}
}

func TestGitIdentityScriptKeepsOtherSettings(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git on this host: the existing-file path uses git config")
	}
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[core]\n\teditor = vi\n"), 0o644)
	runGitScript(t, home, GitIdentity{Name: "Dev", Email: "dev@example.com"})
	b, _ := os.ReadFile(filepath.Join(home, ".gitconfig"))
	for _, want := range []string{"editor = vi", "name = Dev", "email = dev@example.com"} {
		if !strings.Contains(string(b), want) {
			t.Errorf(".gitconfig lacks %q:\n%s", want, b)
		}
	}
}
