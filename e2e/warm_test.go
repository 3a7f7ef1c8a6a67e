package e2e

import (
	"strings"
	"testing"
)

// identityScript prints, one per line, what no two VMs restored from one
// snapshot may share.
const identityScript = `hostname; cat /etc/machine-id; cat /proc/sys/kernel/random/boot_id;
ip -br addr show eth0 | awk '{print $3}'; cat /sys/class/net/eth0/address;
cat /etc/ssh/ssh_host_ed25519_key.pub; head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; echo;
df -BM --output=size /root | tail -1`

var identityFields = []string{"hostname", "machine-id", "boot_id", "address", "MAC", "sshd host key", "urandom", "/root size"}

// TestWarmStart takes a snapshot of the default image and restores two VMs
// from it, one running at a time: each takes its own identity.
func TestWarmStart(t *testing.T) {
	e := newEnv(t, "warm")
	out := e.ok("image", "warm", "debian-bookworm")
	key := ""
	if f := strings.Fields(out[strings.LastIndex(out, "snapshot "):]); len(f) > 1 {
		key = f[1]
	}
	if key == "" {
		t.Fatalf("image warm printed no key:\n%s", out)
	}
	var seen []map[string]string
	var ids []string
	for _, name := range []string{"e2e-warm1", "e2e-warm2"} {
		out := e.ok("vm", "create", "--name", name)
		if !strings.Contains(out, "restored from snapshot in") {
			t.Errorf("%s was not restored:\n%s", name, out)
		}
		ids = append(ids, e.idFromLog(name))
		lines := strings.Split(strings.TrimSpace(e.ok("vm", "ssh", name, "--", "sh", "-c", identityScript)), "\n")
		if len(lines) < len(identityFields) {
			t.Fatalf("%s answered %q", name, lines)
		}
		got := map[string]string{}
		for i, f := range identityFields {
			got[f] = strings.TrimSpace(lines[len(lines)-len(identityFields)+i])
		}
		t.Logf("%s: %v", name, got)
		if got["hostname"] != name {
			t.Errorf("%s has hostname %q", name, got["hostname"])
		}
		seen = append(seen, got)
		e.ok("vm", "stop", name) // one VM at a time; the address stays allocated
	}
	for _, f := range identityFields {
		if seen[0][f] != seen[1][f] || f == "/root size" {
			continue
		}
		t.Errorf("the two restored VMs share their %s: %q", f, seen[0][f])
	}
	if seen[0]["/root size"] == "" || seen[0]["/root size"] == "64M" {
		t.Errorf("/root is %q: the template's work disk, not the VM's", seen[0]["/root size"])
	}
	e.ok("vm", "delete", "e2e-warm1", "e2e-warm2")
	e.assertNoTrace(ids...)
	e.ok("image", "warm", "--delete", key)
}
