package cli

import (
	"slices"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/sshconfig"
)

func TestSSHArgs(t *testing.T) {
	tgt := api.SSHTarget{User: "root", Host: "172.30.0.2", Port: 22, KeyPath: "/k", KnownHosts: "/kh", HostKeyAlias: "banger-abc"}
	got := strings.Join(sshArgs(tgt, "", false, []string{"sh", "-c", "echo hi; exit 7"}), " ")
	for _, want := range []string{"-i /k", "UserKnownHostsFile=/kh", "StrictHostKeyChecking=yes", "HostKeyAlias=banger-abc", "-T root@172.30.0.2 -- sh -c 'echo hi; exit 7'"} {
		if !strings.Contains(got, want) {
			t.Errorf("argv %q lacks %q", got, want)
		}
	}
	got = strings.Join(sshArgs(tgt, "", true, nil), " ")
	if !strings.HasSuffix(got, "-t root@172.30.0.2") {
		t.Errorf("interactive argv %q", got)
	}
}

// TestSSHArgsViaAgent checks that a VM reached over its agent gets
// `banger vm connect` as ProxyCommand, quoted for the shell ssh runs it
// with, and keeps the pinned-key options.
func TestSSHArgsViaAgent(t *testing.T) {
	tgt := api.SSHTarget{VM: "dev", User: "root", Host: "172.30.0.2", Port: 22, KeyPath: "/k", KnownHosts: "/kh", HostKeyAlias: "banger-abc", Via: api.ViaAgent}
	proxy := sshconfig.ProxyCommand("/opt/my banger/banger", "/run/b%1/bangerd.sock", "dev")
	if want := `'/opt/my banger/banger' vm connect --socket /run/b%%1/bangerd.sock dev`; proxy != want {
		t.Errorf("ProxyCommand = %q, want %q", proxy, want)
	}
	args := sshArgs(tgt, proxy, false, []string{"true"})
	if i := slices.Index(args, "ProxyCommand="+proxy); i < 1 || args[i-1] != "-o" {
		t.Errorf("argv %q lacks -o ProxyCommand=%s", args, proxy)
	}
	for _, want := range []string{"HostKeyAlias=banger-abc", "StrictHostKeyChecking=yes", "UserKnownHostsFile=/kh"} {
		if !slices.Contains(args, want) {
			t.Errorf("argv %q lacks %q", args, want)
		}
	}
	if slices.ContainsFunc(sshArgs(tgt, "", false, nil), func(a string) bool { return strings.HasPrefix(a, "ProxyCommand") }) {
		t.Error("a ProxyCommand without a proxy")
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536 << 20: "1.5 GiB", 8 << 40: "8.0 TiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
