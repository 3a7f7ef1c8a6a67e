package network

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// ruleSummary describes one rule of banger's table as read back from the
// kernel: chain, VM tag and the interesting parts of the expressions.
type ruleSummary struct {
	chain, vm, ifname string
	masq, accept, ct  bool
	ifnameNeq         bool
}

func readNATRules(t *testing.T, c *nftables.Conn) []ruleSummary {
	t.Helper()
	post, fwd := natChains()
	var out []ruleSummary
	for _, ch := range []*nftables.Chain{post, fwd} {
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			t.Fatalf("read rules of %s: %v", ch.Name, err)
		}
		for _, r := range rules {
			s := ruleSummary{chain: ch.Name}
			if ip, ok := ruleVM(r); ok {
				s.vm = ip.String()
			}
			for _, e := range r.Exprs {
				switch e := e.(type) {
				case *expr.Masq:
					s.masq = true
				case *expr.Verdict:
					s.accept = e.Kind == expr.VerdictAccept
				case *expr.Ct:
					s.ct = e.Key == expr.CtKeySTATE
				case *expr.Cmp:
					if len(e.Data) == 16 {
						s.ifname = string(bytes.TrimRight(e.Data, "\x00"))
						s.ifnameNeq = e.Op == expr.CmpOpNeq
					}
				}
			}
			out = append(out, s)
		}
	}
	return out
}

func vmSummaries(rules []ruleSummary, vm string) []ruleSummary {
	var out []ruleSummary
	for _, r := range rules {
		if r.vm == vm {
			out = append(out, r)
		}
	}
	return out
}

func TestNATEnableDisable(t *testing.T) {
	tn := enterNetns(t)
	ctx := context.Background()
	conn := &nftables.Conn{NetNS: int(tn.ns)}
	sysctl := filepath.Join(t.TempDir(), "ip_forward")
	if err := os.WriteFile(sysctl, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := &NAT{Conn: conn, IPForwardPath: sysctl}
	vm1 := netip.MustParseAddr("172.30.0.2")
	vm2 := netip.MustParseAddr("172.30.0.3")

	got, err := n.List(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("Enabled before any rule = %v, %v; want none", got, err)
	}
	if err := n.Disable(ctx, vm1); err != nil {
		t.Fatalf("Disable with no table: %v", err)
	}

	for _, vm := range []netip.Addr{vm1, vm2, vm1} { // vm1 twice: idempotent
		if err := n.Enable(ctx, vm, testBridge); err != nil {
			t.Fatalf("Enable(%s): %v", vm, err)
		}
	}
	if b, _ := os.ReadFile(sysctl); string(b) != "1\n" {
		t.Errorf("ip_forward sysctl = %q, want \"1\\n\"", b)
	}
	got, err = n.List(ctx)
	if err != nil || !slices.Equal(got, []netip.Addr{vm1, vm2}) {
		t.Fatalf("Enabled = %v, %v; want [%s %s]", got, err, vm1, vm2)
	}

	rules := readNATRules(t, conn)
	if len(rules) != 6 {
		t.Fatalf("table has %d rules, want 6 (3 per VM): %+v", len(rules), rules)
	}
	want := []ruleSummary{
		{chain: natChainPost, vm: vm1.String(), ifname: testBridge, ifnameNeq: true, masq: true},
		{chain: natChainFwd, vm: vm1.String(), ifname: testBridge, accept: true},
		{chain: natChainFwd, vm: vm1.String(), ifname: testBridge, accept: true, ct: true},
	}
	if got := vmSummaries(rules, vm1.String()); !slices.Equal(got, want) {
		t.Errorf("rules of %s:\n got %+v\nwant %+v", vm1, got, want)
	}

	checkWithNftCLI(t, vm1, vm2)

	if err := n.Disable(ctx, vm1); err != nil {
		t.Fatalf("Disable(%s): %v", vm1, err)
	}
	if err := n.Disable(ctx, vm1); err != nil {
		t.Fatalf("Disable(%s) again: %v", vm1, err)
	}
	rules = readNATRules(t, conn)
	if len(vmSummaries(rules, vm1.String())) != 0 || len(vmSummaries(rules, vm2.String())) != 3 || len(rules) != 3 {
		t.Fatalf("after disabling %s, rules = %+v; want only %s's 3", vm1, rules, vm2)
	}
	got, err = n.List(ctx)
	if err != nil || !slices.Equal(got, []netip.Addr{vm2}) {
		t.Fatalf("Enabled = %v, %v; want [%s]", got, err, vm2)
	}

	if err := n.Disable(ctx, vm2); err != nil {
		t.Fatalf("Disable(%s): %v", vm2, err)
	}
	if rules := readNATRules(t, conn); len(rules) != 0 {
		t.Fatalf("rules left after disabling both: %+v", rules)
	}
	if _, err := conn.ListTableOfFamily(NATTable, nftables.TableFamilyIPv4); err != nil {
		t.Errorf("table %s should stay after the last rule goes: %v", NATTable, err)
	}
}

// checkWithNftCLI lists banger's table with the nft tool, if installed, and
// checks it renders the rules an operator expects. The tool is forked from
// the test's locked thread and so lists the test namespace.
func checkWithNftCLI(t *testing.T, vms ...netip.Addr) {
	t.Helper()
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Log("nft not installed; skipping the CLI cross-check")
		return
	}
	var text string
	for _, family := range []string{"ip", "inet"} {
		out, err := exec.Command(nft, "list", "table", family, NATTable).CombinedOutput()
		if err != nil {
			t.Fatalf("nft list table %s: %v\n%s", family, err, out)
		}
		t.Logf("nft list table %s %s:\n%s", family, NATTable, out)
		text += string(out)
	}
	for _, vm := range vms {
		for _, want := range []string{
			fmt.Sprintf(`ip saddr %s oifname != "%s" counter packets 0 bytes 0 masquerade comment "banger vm %s"`, vm, testBridge, vm),
			fmt.Sprintf(`iifname "%s" ip saddr %s counter packets 0 bytes 0 accept comment "banger vm %s"`, testBridge, vm, vm),
			fmt.Sprintf(`oifname "%s" ip daddr %s ct state established,related counter packets 0 bytes 0 accept comment "banger vm %s"`, testBridge, vm, vm),
		} {
			if !strings.Contains(text, want) {
				t.Errorf("nft output lacks %q", want)
			}
		}
	}
	for _, want := range []string{"type nat hook postrouting priority srcnat; policy accept;", "type filter hook forward priority filter; policy accept;"} {
		if !strings.Contains(text, want) {
			t.Errorf("nft output lacks %q", want)
		}
	}
}

func TestNATEnableReplacesBridge(t *testing.T) {
	tn := enterNetns(t)
	ctx := context.Background()
	conn := &nftables.Conn{NetNS: int(tn.ns)}
	n := &NAT{Conn: conn, IPForwardPath: filepath.Join(t.TempDir(), "ip_forward")}
	vm := netip.MustParseAddr("10.9.0.5")
	if err := n.Enable(ctx, vm, "oldbr"); err != nil {
		t.Fatal(err)
	}
	if err := n.Enable(ctx, vm, "newbr"); err != nil {
		t.Fatal(err)
	}
	rules := readNATRules(t, conn)
	if len(rules) != 3 {
		t.Fatalf("got %d rules, want 3: %+v", len(rules), rules)
	}
	for _, r := range rules {
		if r.ifname != "newbr" {
			t.Errorf("rule %+v still names the old bridge", r)
		}
	}
}

func TestNATEnableForwardingFailureRollsBack(t *testing.T) {
	tn := enterNetns(t)
	ctx := context.Background()
	conn := &nftables.Conn{NetNS: int(tn.ns)}
	n := &NAT{
		Conn:          conn,
		IPForwardPath: filepath.Join(t.TempDir(), "missing-dir", "ip_forward"),
	}
	vm := netip.MustParseAddr("10.9.0.5")
	err := n.Enable(ctx, vm, testBridge)
	if err == nil || !strings.Contains(err.Error(), "enable ip forwarding") {
		t.Fatalf("Enable = %v, want ip forwarding error", err)
	}
	if rules := readNATRules(t, conn); len(rules) != 0 {
		t.Errorf("rules left after failed Enable: %+v", rules)
	}
}

// TestNATRealSysctl uses the default /proc path. The test thread is in its
// own namespace, where ip_forward is per-namespace, so the host's value
// must not change.
func TestNATRealSysctl(t *testing.T) {
	const path = "/proc/sys/net/ipv4/ip_forward"
	hostBefore, err := os.ReadFile(path)
	if err != nil {
		t.Skipf("cannot read %s: %v", path, err)
	}
	t.Cleanup(func() { // runs after the namespace is restored
		if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, hostBefore) {
			t.Errorf("host ip_forward changed: %q -> %q (%v)", hostBefore, after, err)
		}
	})
	tn := enterNetns(t)
	n := &NAT{Conn: &nftables.Conn{NetNS: int(tn.ns)}}
	if err := n.Enable(context.Background(), netip.MustParseAddr("172.30.0.2"), testBridge); err != nil {
		t.Fatalf("Enable: %v", err)
	}
	if b, err := os.ReadFile(path); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Errorf("ip_forward in test namespace = %q, %v; want 1", b, err)
	}
}

func TestNATRejectsBadInput(t *testing.T) {
	n := &NAT{}
	ctx := context.Background()
	tests := []struct {
		name   string
		ip     netip.Addr
		bridge string
	}{
		{"zero ip", netip.Addr{}, "br0"},
		{"ipv6", netip.MustParseAddr("fd00::2"), "br0"},
		{"bad bridge", netip.MustParseAddr("10.0.0.2"), "br 0"},
	}
	for _, tt := range tests {
		if err := n.Enable(ctx, tt.ip, tt.bridge); err == nil {
			t.Errorf("%s: Enable succeeded, want error", tt.name)
		}
	}
	if err := n.Disable(ctx, netip.Addr{}); err == nil {
		t.Errorf("Disable(zero) succeeded, want error")
	}
}

// TestNATLegacyForwardRules: rules an older banger left in the forward
// chain of table ip banger are listed and removed like current ones.
func TestNATLegacyForwardRules(t *testing.T) {
	tn := enterNetns(t)
	ctx := context.Background()
	conn := &nftables.Conn{NetNS: int(tn.ns)}
	vm := netip.MustParseAddr("10.9.0.7")
	accept := nftables.ChainPolicyAccept
	legacy := legacyForwardChain()
	legacy.Type, legacy.Hooknum, legacy.Priority, legacy.Policy = nftables.ChainTypeFilter, nftables.ChainHookForward, nftables.ChainPriorityFilter, &accept
	conn.AddTable(legacy.Table)
	conn.AddChain(legacy)
	conn.AddRule(newRule(legacy, tag(ruleTagPrefix, vm.String()), iifIs(testBridge), verdict(expr.VerdictAccept)))
	if err := conn.Flush(); err != nil {
		t.Fatal(err)
	}
	n := &NAT{Conn: conn}
	if got, err := n.List(ctx); err != nil || !slices.Equal(got, []netip.Addr{vm}) {
		t.Fatalf("List = %v, %v; want [%s]", got, err, vm)
	}
	if err := n.Disable(ctx, vm); err != nil {
		t.Fatal(err)
	}
	if rules, err := conn.GetRules(legacy.Table, legacy); err != nil || len(rules) != 0 {
		t.Fatalf("legacy rules left: %d, %v", len(rules), err)
	}
}
