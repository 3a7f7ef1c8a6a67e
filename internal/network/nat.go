package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
)

// NAT table and chain names. The tables belong to banger alone; other
// tables are never touched.
const (
	NATTable       = "banger"
	natChainPost   = "postrouting"
	natChainFwd    = "forward"
	ruleTagPrefix  = "banger vm "
	defaultForward = "/proc/sys/net/ipv4/ip_forward"
)

// NAT gives individual VMs outbound access through masquerading: a
// postrouting nat chain in the nftables table "banger" (family ip), and
// accept rules at the head of the forward chain of the table "banger"
// (family inet), ahead of the Firewall's rule that drops everything else
// leaving the bridge. Each rule carries a comment naming the VM address it
// belongs to, so a VM's rules can be found and removed without touching
// anyone else's.
//
// The zero value is usable and acts on the calling process's namespace.
type NAT struct {
	// Conn is the nftables connection; nil opens one in the calling
	// process's network namespace for each call.
	Conn *nftables.Conn
	// IPForwardPath is the sysctl file Enable writes "1" to; empty means
	// /proc/sys/net/ipv4/ip_forward. The value is per network namespace
	// and belongs to the namespace of the thread that opens the file.
	IPForwardPath string
	// WriteFile writes the sysctl; nil means os.WriteFile.
	WriteFile func(name string, data []byte, perm os.FileMode) error
	// ReadFile reads the sysctl; nil means os.ReadFile.
	ReadFile func(name string) ([]byte, error)

	mu sync.Mutex // serialises read-modify-write of the ruleset
}

func natTable() *nftables.Table {
	return &nftables.Table{Name: NATTable, Family: nftables.TableFamilyIPv4}
}

// natChains returns the postrouting chain of the ip table and the forward
// chain of the inet table.
func natChains() (post, fwd *nftables.Chain) {
	post = &nftables.Chain{
		Name:     natChainPost,
		Table:    natTable(),
		Type:     nftables.ChainTypeNAT,
		Hooknum:  nftables.ChainHookPostrouting,
		Priority: nftables.ChainPriorityNATSource,
	}
	return post, forwardChain()
}

// legacyForwardChain is where banger before the Firewall kept its forward
// rules (table ip banger); rules found there are removed like any other.
func legacyForwardChain() *nftables.Chain {
	return &nftables.Chain{Name: natChainFwd, Table: natTable()}
}

func (n *NAT) conn() (*nftables.Conn, error) { return openConn(n.Conn) }

// Enable lets the VM with address vmIP, attached to bridge, reach the
// outside: it masquerades packets from vmIP leaving through any interface
// other than bridge, accepts them in the forward chain along with the
// established/related return traffic, and turns on IPv4 forwarding. It is
// idempotent: the VM's previous rules are replaced in the same transaction.
func (n *NAT) Enable(ctx context.Context, vmIP netip.Addr, bridge string) error {
	if !vmIP.Is4() {
		return fmt.Errorf("enable nat: %q is not an IPv4 address", vmIP)
	}
	if err := ValidateIfName(bridge); err != nil {
		return fmt.Errorf("enable nat for %s: bridge: %w", vmIP, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("enable nat for %s: %w", vmIP, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()

	c, err := n.conn()
	if err != nil {
		return fmt.Errorf("enable nat for %s: %w", vmIP, err)
	}
	post, fwd := natChains()
	masq, fwdRules := natRules(vmIP, bridge, post, fwd)
	old := func() ([]*nftables.Rule, error) { return vmRules(c, vmIP) }
	// The forward rules go at the head, ahead of the Firewall's drop.
	if err := replaceRules(c, []*nftables.Chain{post, fwd}, old, []*nftables.Rule{masq}, fwdRules); err != nil {
		return fmt.Errorf("enable nat for %s: %w", vmIP, err)
	}

	if err := n.enableForwarding(); err != nil {
		// Leave no half-configured VM behind.
		if derr := n.disableLocked(c, vmIP); derr != nil {
			err = errors.Join(err, derr)
		}
		return fmt.Errorf("enable nat for %s: %w", vmIP, err)
	}
	return nil
}

func (n *NAT) enableForwarding() error {
	path := n.IPForwardPath
	if path == "" {
		path = defaultForward
	}
	read, write := n.ReadFile, n.WriteFile
	if read == nil {
		read = os.ReadFile
	}
	if write == nil {
		write = os.WriteFile
	}
	if cur, err := read(path); err == nil && strings.TrimSpace(string(cur)) == "1" {
		return nil
	}
	if err := write(path, []byte("1\n"), 0o644); err != nil {
		return fmt.Errorf("enable ip forwarding via %s: %w", path, err)
	}
	return nil
}

// Disable removes the rules Enable added for vmIP. It is idempotent; the
// table and chains stay even when no rules remain.
func (n *NAT) Disable(ctx context.Context, vmIP netip.Addr) error {
	if !vmIP.Is4() {
		return fmt.Errorf("disable nat: %q is not an IPv4 address", vmIP)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("disable nat for %s: %w", vmIP, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	c, err := n.conn()
	if err != nil {
		return fmt.Errorf("disable nat for %s: %w", vmIP, err)
	}
	return n.disableLocked(c, vmIP)
}

func (n *NAT) disableLocked(c *nftables.Conn, vmIP netip.Addr) error {
	rules, err := vmRules(c, vmIP)
	if err != nil {
		return fmt.Errorf("disable nat for %s: %w", vmIP, err)
	}
	if len(rules) == 0 {
		return nil
	}
	if err := deleteRules(c, rules); err != nil {
		return fmt.Errorf("disable nat for %s: %w", vmIP, err)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("disable nat for %s: delete rules: %w", vmIP, err)
	}
	return nil
}

// List returns the VM addresses that have NAT rules, sorted.
func (n *NAT) List(ctx context.Context) ([]netip.Addr, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list nat rules: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	c, err := n.conn()
	if err != nil {
		return nil, fmt.Errorf("list nat rules: %w", err)
	}
	rules, err := vmRules(c, netip.Addr{})
	if err != nil {
		return nil, fmt.Errorf("list nat rules: %w", err)
	}
	seen := map[netip.Addr]bool{}
	for _, r := range rules {
		if ip, ok := ruleVM(r); ok {
			seen[ip] = true
		}
	}
	out := make([]netip.Addr, 0, len(seen))
	for ip := range seen {
		out = append(out, ip)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// vmRules returns the rules tagged with vmIP, or with any VM when vmIP is
// the zero Addr, in banger's chains (the legacy one included).
func vmRules(c *nftables.Conn, vmIP netip.Addr) ([]*nftables.Rule, error) {
	post, fwd := natChains()
	return taggedRules(c, ruleTagPrefix, func(v string) bool {
		ip, err := netip.ParseAddr(v)
		return err == nil && (!vmIP.IsValid() || ip == vmIP)
	}, post, fwd, legacyForwardChain())
}

// ruleVM returns the VM address a rule was tagged with by Enable.
func ruleVM(r *nftables.Rule) (netip.Addr, bool) {
	v, ok := ruleTagValue(r, ruleTagPrefix)
	if !ok {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip, true
}

// natRules builds, for vmIP on bridge, the masquerade rule
//
//	postrouting: ip saddr VM oifname != BRIDGE masquerade
//
// and the forward rules
//
//	iifname BRIDGE ip saddr VM accept
//	oifname BRIDGE ip daddr VM ct state established,related accept
func natRules(vmIP netip.Addr, bridge string, post, fwd *nftables.Chain) (*nftables.Rule, []*nftables.Rule) {
	ip := vmIP.AsSlice()
	t := tag(ruleTagPrefix, vmIP.String())
	masq := newRule(post, t,
		match(ipv4Addr(12), expr.CmpOpEq, ip), oifIs(expr.CmpOpNeq, bridge),
		[]expr.Any{&expr.Counter{}, &expr.Masq{}})
	return masq, []*nftables.Rule{
		newRule(fwd, t, iifIs(bridge), isIPv4(), match(ipv4Addr(12), expr.CmpOpEq, ip), verdict(expr.VerdictAccept)),
		newRule(fwd, t, oifIs(expr.CmpOpEq, bridge), isIPv4(), match(ipv4Addr(16), expr.CmpOpEq, ip),
			ctEstablished(), verdict(expr.VerdictAccept)),
	}
}
