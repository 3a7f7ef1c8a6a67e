package e2e

import (
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/image/golden"
)

// debootstrapLayer returns a cached layer tarball of `debootstrap
// --variant=minbase` of Debian 12, with include (comma-separated, may be
// empty) added. Plain minbase has no init, no udev and no sshd. The layer is
// built once per recipe and kept under the e2e cache; the .debs come from
// the cache the default image's build fills.
func debootstrapLayer(t *testing.T, include string) string {
	t.Helper()
	args := []string{"--variant=minbase", "--cache-dir=" + filepath.Join(cacheDir(), "state", "cache", "debootstrap")}
	if include != "" {
		args = append(args, "--include="+include)
	}
	// Check the archive's signatures, as the image build does.
	args = append(args, "--force-check-gpg", "--keyring="+golden.DefaultKeyring)
	recipe := append(append([]string{}, args[:1]...), args[2:]...) // the cache dir is not part of it
	recipe = append(recipe, "bookworm", golden.DefaultMirror)
	sum := sha256.Sum256([]byte(strings.Join(recipe, " ")))
	layer := filepath.Join(cacheDir(), "anyimage", "minbase-"+hex.EncodeToString(sum[:8])+".tar.gz")
	if _, err := os.Stat(layer); err == nil {
		t.Logf("reusing %s (%s)", layer, strings.Join(recipe, " "))
		return layer
	}
	if _, err := exec.LookPath("debootstrap"); err != nil {
		t.Skipf("building a minbase rootfs needs debootstrap (run `make deps`): %v", err)
	}
	if err := os.MkdirAll(filepath.Join(cacheDir(), "anyimage"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(args[1][len("--cache-dir="):], 0o755); err != nil {
		t.Fatal(err)
	}
	tree, err := os.MkdirTemp(filepath.Join(cacheDir(), "anyimage"), "tree-")
	if err != nil {
		t.Fatal(err)
	}
	// A private mount namespace: whatever debootstrap mounts in the tree
	// (/proc, a bind of /dev) goes away with it, so removing the tree can
	// never reach the host's files.
	argv := append([]string{"--mount", "--propagation", "private", "debootstrap"}, args...)
	argv = append(argv, "bookworm", tree, golden.DefaultMirror)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute) // a stalled mirror
	defer cancel()
	if out, err := exec.CommandContext(ctx, "unshare", argv...).CombinedOutput(); err != nil {
		os.RemoveAll(tree)
		t.Fatalf("debootstrap %s: %v\n%s", strings.Join(recipe, " "), err, lastLines(string(out), 20))
	}
	defer os.RemoveAll(tree)
	writeLayer(t, tree, layer+".tmp")
	if err := os.Rename(layer+".tmp", layer); err != nil {
		t.Fatal(err)
	}
	return layer
}

// busyboxTree is a root filesystem holding only the host's busybox-static
// (/bin/busybox and a link per applet) and /etc/os-release: no libc, no
// init, no /dev, /proc, /root or /etc/passwd.
func busyboxTree(t *testing.T) string {
	t.Helper()
	bb := "/bin/busybox"
	if !staticELF(bb) {
		t.Skipf("needs busybox-static on the host (apt-get install busybox-static): %s is missing or not static", bb)
	}
	applets, err := exec.Command(bb, "--list").Output()
	if err != nil {
		t.Fatalf("busybox --list: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{bin, filepath.Join(dir, "etc")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range strings.Fields(string(applets)) {
		if a == "busybox" || strings.Contains(a, "/") {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(bin, a)); err != nil {
			t.Fatal(err)
		}
	}
	osRelease := "NAME=\"BusyBox\"\nID=busybox\nPRETTY_NAME=\"busybox-static only\"\n"
	if err := os.WriteFile(filepath.Join(dir, "etc", "os-release"), []byte(osRelease), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// staticELF reports whether path is an ELF executable without an
// interpreter (statically linked).
func staticELF(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
