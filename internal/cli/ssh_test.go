package cli

import (
	"strings"
	"testing"

	"banger/internal/api"
)

func TestSSHArgs(t *testing.T) {
	tgt := api.SSHTarget{User: "root", Host: "172.30.0.2", Port: 22, KeyPath: "/k", KnownHosts: "/kh", HostKeyAlias: "banger-abc"}
	got := strings.Join(sshArgs(tgt, false, []string{"sh", "-c", "echo hi; exit 7"}), " ")
	for _, want := range []string{"-i /k", "UserKnownHostsFile=/kh", "StrictHostKeyChecking=yes", "HostKeyAlias=banger-abc", "-T root@172.30.0.2 -- sh -c 'echo hi; exit 7'"} {
		if !strings.Contains(got, want) {
			t.Errorf("argv %q lacks %q", got, want)
		}
	}
	got = strings.Join(sshArgs(tgt, true, nil), " ")
	if !strings.HasSuffix(got, "-t root@172.30.0.2") {
		t.Errorf("interactive argv %q", got)
	}
}

func TestHumanBytes(t *testing.T) {
	for n, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536 << 20: "1.5 GiB", 8 << 40: "8.0 TiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
