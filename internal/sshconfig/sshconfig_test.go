package sshconfig

import (
	"bytes"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRender(t *testing.T) {
	got := string(Render([]Entry{
		{Name: "happy-otter", ID: "0123abcd", IP: netip.MustParseAddr("172.30.0.2")},
		{Name: "Bad Name", ID: "x", IP: netip.MustParseAddr("172.30.0.3")},
		{Name: "noip", ID: "y"},
		{Name: "evil", ID: "a\nHost *", IP: netip.MustParseAddr("172.30.0.4")},
		{Name: "web1", ID: "ffff0000", IP: netip.MustParseAddr("::ffff:172.30.0.5")},
	}, "/var/lib/banger/ssh/id_ed25519", "/var/lib/my banger/known_hosts%"))
	want := `# Written by bangerd; edits are overwritten. One block per VM.

Host happy-otter.vm
	HostName 172.30.0.2
	Port 22
	User root
	IdentityFile /var/lib/banger/ssh/id_ed25519
	IdentitiesOnly yes
	UserKnownHostsFile "/var/lib/my banger/known_hosts%%"
	GlobalKnownHostsFile /dev/null
	HostKeyAlias banger-0123abcd
	StrictHostKeyChecking yes
	HostKeyAlgorithms ssh-ed25519
	PasswordAuthentication no

Host web1.vm
	HostName 172.30.0.5
	Port 22
	User root
	IdentityFile /var/lib/banger/ssh/id_ed25519
	IdentitiesOnly yes
	UserKnownHostsFile "/var/lib/my banger/known_hosts%%"
	GlobalKnownHostsFile /dev/null
	HostKeyAlias banger-ffff0000
	StrictHostKeyChecking yes
	HostKeyAlgorithms ssh-ed25519
	PasswordAuthentication no
`
	if got != want {
		t.Errorf("Render:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteAtomic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "ssh_config")
	for _, data := range []string{"first\n", "second\n"} {
		if err := Write(path, []byte(data)); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != data {
			t.Fatalf("read back %q, %v; want %q", b, err, data)
		}
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("temp files left behind: %v", ents)
	}
}

const userContent = "# my config\r\nHost *\n\tServerAliveInterval 30\n\nHost work\n  HostName work.example\n  User bob" // no final newline, a CRLF

func TestInstallUninstallPreservesContent(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config")
	include := "/var/lib/banger/ssh_config"
	if err := os.WriteFile(cfg, []byte(userContent), 0o640); err != nil {
		t.Fatal(err)
	}
	changed, err := Install(cfg, include)
	if err != nil || !changed {
		t.Fatalf("Install = %v, %v", changed, err)
	}
	b, _ := os.ReadFile(cfg)
	want := Marker + "\nInclude /var/lib/banger/ssh_config\n" + userContent
	if string(b) != want {
		t.Fatalf("after Install:\n%q\nwant\n%q", b, want)
	}
	if st, _ := os.Stat(cfg); st.Mode().Perm() != 0o640 {
		t.Errorf("mode changed to %v", st.Mode().Perm())
	}
	for i := 0; i < 2; i++ {
		if changed, err := Install(cfg, include); err != nil || changed {
			t.Fatalf("second Install = %v, %v; want unchanged", changed, err)
		}
	}
	if b2, _ := os.ReadFile(cfg); !bytes.Equal(b, b2) {
		t.Fatalf("idempotent Install rewrote the file")
	}
	changed, err = Uninstall(cfg, include)
	if err != nil || !changed {
		t.Fatalf("Uninstall = %v, %v", changed, err)
	}
	if b, _ := os.ReadFile(cfg); string(b) != userContent {
		t.Fatalf("after Uninstall:\n%q\nwant the original\n%q", b, userContent)
	}
	if changed, err := Uninstall(cfg, include); err != nil || changed {
		t.Fatalf("second Uninstall = %v, %v", changed, err)
	}
}

func TestInstallMovesIncludeToTop(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config")
	include := "/opt/banger state/ssh_config"
	block := Marker + "\nInclude \"/opt/banger state/ssh_config\"\n"
	// A user's own Include of the same file without the marker is theirs
	// and stays.
	orig := "Host a\n  User x\n" + block + "Include \"/opt/banger state/ssh_config\"\n"
	if err := os.WriteFile(cfg, []byte(orig), 0o600); err != nil {
		t.Fatal(err)
	}
	if changed, err := Install(cfg, include); err != nil || !changed {
		t.Fatalf("Install = %v, %v", changed, err)
	}
	b, _ := os.ReadFile(cfg)
	if want := block + "Host a\n  User x\nInclude \"/opt/banger state/ssh_config\"\n"; string(b) != want {
		t.Fatalf("got\n%q\nwant\n%q", b, want)
	}
	if _, err := Uninstall(cfg, include); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(cfg); string(b) != "Host a\n  User x\nInclude \"/opt/banger state/ssh_config\"\n" {
		t.Fatalf("Uninstall removed more than its block: %q", b)
	}
}

func TestInstallCreatesFileAndDir(t *testing.T) {
	home := t.TempDir()
	cfg := filepath.Join(home, ".ssh", "config")
	if changed, err := Install(cfg, "/var/lib/banger/ssh_config"); err != nil || !changed {
		t.Fatalf("Install = %v, %v", changed, err)
	}
	st, err := os.Stat(cfg)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config: %v, %v", st, err)
	}
	if st, _ := os.Stat(filepath.Dir(cfg)); st.Mode().Perm() != 0o700 {
		t.Errorf(".ssh mode %v, want 0700", st.Mode().Perm())
	}
	if changed, err := Uninstall(cfg, "/var/lib/banger/ssh_config"); err != nil || !changed {
		t.Fatalf("Uninstall = %v, %v", changed, err)
	}
	if _, err := os.Stat(cfg); !os.IsNotExist(err) {
		t.Errorf("the file Install created is still there: %v", err)
	}
}

func TestInstallFollowsSymlink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles", "ssh_config")
	if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(real, []byte("Host x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "config")
	if err := os.Symlink("dotfiles/ssh_config", link); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(link, "/b/ssh_config"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the symlink was replaced: %v %v", fi, err)
	}
	if b, _ := os.ReadFile(real); !strings.HasPrefix(string(b), Marker+"\nInclude /b/ssh_config\nHost x\n") {
		t.Fatalf("target not updated: %q", b)
	}
}

func TestInstallKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a file owned by another user")
	}
	cfg := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(cfg, []byte("Host x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(cfg, 4321, 4322); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(cfg, "/b/ssh_config"); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(cfg)
	if sys := st.Sys().(*syscall.Stat_t); sys.Uid != 4321 || sys.Gid != 4322 {
		t.Errorf("owner %d:%d, want 4321:4322 (ssh rejects a config owned by someone else)", sys.Uid, sys.Gid)
	}
}

func TestIncludeValidation(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config")
	for _, bad := range []string{"relative/ssh_config", "/a/*.conf", "/a/\"q\"", "/a/b\nHost *", "/a/%d/c", "/a/${HOME}"} {
		if _, err := Install(cfg, bad); err == nil {
			t.Errorf("Install(%q): want error", bad)
		}
	}
	if _, err := os.Stat(cfg); !os.IsNotExist(err) {
		t.Errorf("a rejected Install created the file")
	}
}

// TestSSHResolvesVMName asks the real ssh client how it would connect.
func TestSSHResolvesVMName(t *testing.T) {
	ssh, err := exec.LookPath("ssh")
	if err != nil {
		t.Skip("ssh client not installed")
	}
	dir := t.TempDir()
	included := filepath.Join(dir, "banger", "ssh_config")
	// Spaces and '%' in the key paths must survive ssh_config quoting and
	// token expansion.
	key := filepath.Join(dir, "key dir%", "id_ed25519")
	known := filepath.Join(dir, "key dir%", "known_hosts")
	if err := Write(included, Render([]Entry{
		{Name: "foo", ID: "c0ffee42", IP: netip.MustParseAddr("172.30.0.9")},
	}, key, known)); err != nil {
		t.Fatal(err)
	}
	user := filepath.Join(dir, "home", ".ssh", "config")
	if err := os.MkdirAll(filepath.Dir(user), 0o700); err != nil {
		t.Fatal(err)
	}
	// The user's catch-all comes after banger's Include, so banger's values
	// win for foo.vm and the user's apply elsewhere.
	if err := os.WriteFile(user, []byte("Host *\n  User bob\n  Port 2222\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(user, included); err != nil {
		t.Fatal(err)
	}
	sshG := func(host string) map[string]string {
		out, err := exec.Command(ssh, "-G", "-F", user, host).CombinedOutput()
		if err != nil {
			t.Fatalf("ssh -G %s: %v\n%s", host, err, out)
		}
		m := map[string]string{}
		for _, line := range strings.Split(string(out), "\n") {
			if k, v, ok := strings.Cut(line, " "); ok {
				if _, dup := m[k]; !dup {
					m[k] = v
				}
			}
		}
		return m
	}
	got := sshG("foo.vm")
	for k, want := range map[string]string{
		"hostname":     "172.30.0.9",
		"hostkeyalias": "banger-c0ffee42",
		"user":         "root",
		"port":         "22",
		// -G prints IdentityFile before %-token expansion, which turns
		// "%%" into "%" when ssh loads the key.
		"identityfile":          strings.ReplaceAll(key, "%", "%%"),
		"identitiesonly":        "yes",
		"userknownhostsfile":    known,
		"stricthostkeychecking": "true",
		"hostkeyalgorithms":     "ssh-ed25519",
	} {
		if got[k] != want {
			t.Errorf("ssh -G foo.vm: %s = %q, want %q", k, got[k], want)
		}
	}
	if other := sshG("bar.example"); other["user"] != "bob" || other["port"] != "2222" || other["hostkeyalias"] != "" {
		t.Errorf("ssh -G bar.example picked up banger's settings: user=%q port=%q hostkeyalias=%q", other["user"], other["port"], other["hostkeyalias"])
	}
	if unknown := sshG("nosuch.vm"); unknown["hostname"] != "nosuch.vm" {
		t.Errorf("ssh -G nosuch.vm: hostname %q", unknown["hostname"])
	}
}

// TestRenderProxyCommand checks that a VM reached over its agent gets
// `banger vm connect` as its ProxyCommand, and that one that could break
// the file out of its block is dropped.
func TestRenderProxyCommand(t *testing.T) {
	proxy := ProxyCommand("/usr/local/bin/banger", "/run/banger/bangerd.sock", "dev")
	got := string(Render([]Entry{
		{Name: "dev", ID: "0123abcd", IP: netip.MustParseAddr("172.30.0.2"), ProxyCommand: proxy},
		{Name: "bad", ID: "4567", IP: netip.MustParseAddr("172.30.0.3"), ProxyCommand: "x\nHost *"},
	}, "/k", "/kh"))
	want := "\tPasswordAuthentication no\n\tProxyCommand /usr/local/bin/banger vm connect --socket /run/banger/bangerd.sock dev\n\nHost bad.vm\n"
	if !strings.Contains(got, want) {
		t.Errorf("Render =\n%s\nwant it to contain\n%s", got, want)
	}
	if strings.Count(got, "ProxyCommand") != 1 {
		t.Errorf("Render =\n%s\nwant one ProxyCommand", got)
	}
}
