package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestGitIdentityPrefersTheRepositorysOwn(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	global := filepath.Join(t.TempDir(), "gitconfig")
	if err := os.WriteFile(global, []byte("[user]\n\tname = Global Name\n\temail = global@example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GIT_CONFIG_GLOBAL", global)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	repo := t.TempDir()
	for _, args := range [][]string{{"init", "-q"}, {"config", "user.email", "repo@example.com"}} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	ctx := context.Background()
	if name, email := gitIdentity(ctx, ""); name != "Global Name" || email != "global@example.com" {
		t.Errorf("global identity = %q <%s>", name, email)
	}
	if name, email := gitIdentity(ctx, repo); name != "Global Name" || email != "repo@example.com" {
		t.Errorf("identity in the repository = %q <%s>, want its own email over the global one", name, email)
	}
	t.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(t.TempDir(), "none"))
	if name, email := gitIdentity(ctx, ""); name != "" || email != "" {
		t.Errorf("without any identity = %q <%s>, want empty", name, email)
	}
}
