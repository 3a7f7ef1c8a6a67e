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
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// NAT table and chain names. The table belongs to banger alone; other
// tables are never touched.
const (
	NATTable       = "banger"
	natChainPost   = "postrouting"
	natChainFwd    = "forward"
	ruleTagPrefix  = "banger vm "
	defaultForward = "/proc/sys/net/ipv4/ip_forward"
)

// NAT gives individual VMs outbound access through masquerading, using an
// nftables table "banger" (family ip) with a postrouting nat chain and a
// forward filter chain. Each rule carries a comment naming the VM address
// it belongs to, so a VM's rules can be found and removed without touching
// anyone else's.
//
// The forward chain's policy is accept: banger's table never drops traffic
// it does not own. Its accept rules matter only to the extent no other
// table drops the packets.
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

// natChains returns banger's two chains, both in one natTable value.
func natChains() (post, fwd *nftables.Chain) {
	table := natTable()
	accept := nftables.ChainPolicyAccept
	post = &nftables.Chain{
		Name:     natChainPost,
		Table:    table,
		Type:     nftables.ChainTypeNAT,
		Hooknum:  nftables.ChainHookPostrouting,
		Priority: nftables.ChainPriorityNATSource,
	}
	fwd = &nftables.Chain{
		Name:     natChainFwd,
		Table:    table,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookForward,
		Priority: nftables.ChainPriorityFilter,
		Policy:   &accept,
	}
	return post, fwd
}

func (n *NAT) conn() (*nftables.Conn, error) {
	if n.Conn != nil {
		return n.Conn, nil
	}
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("open nftables connection: %w", err)
	}
	return c, nil
}

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
	c.AddTable(post.Table)
	c.AddChain(post)
	c.AddChain(fwd)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("enable nat for %s: create table %s: %w", vmIP, NATTable, err)
	}

	old, err := vmRules(c, vmIP, post, fwd)
	if err != nil {
		return fmt.Errorf("enable nat for %s: %w", vmIP, err)
	}
	for _, r := range old {
		if err := c.DelRule(r); err != nil {
			return fmt.Errorf("enable nat for %s: replace old rule: %w", vmIP, err)
		}
	}
	for _, r := range natRules(vmIP, bridge, post, fwd) {
		c.AddRule(r)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("enable nat for %s: add rules: %w", vmIP, err)
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
	post, fwd := natChains()
	rules, err := vmRules(c, vmIP, post, fwd)
	if err != nil {
		return fmt.Errorf("disable nat for %s: %w", vmIP, err)
	}
	if len(rules) == 0 {
		return nil
	}
	for _, r := range rules {
		if err := c.DelRule(r); err != nil {
			return fmt.Errorf("disable nat for %s: %w", vmIP, err)
		}
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("disable nat for %s: delete rules: %w", vmIP, err)
	}
	return nil
}

// Enabled returns the VM addresses that have NAT rules, sorted.
func (n *NAT) Enabled(ctx context.Context) ([]netip.Addr, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list nat rules: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	c, err := n.conn()
	if err != nil {
		return nil, fmt.Errorf("list nat rules: %w", err)
	}
	post, fwd := natChains()
	seen := map[netip.Addr]bool{}
	for _, ch := range []*nftables.Chain{post, fwd} {
		rules, err := chainRules(c, ch)
		if err != nil {
			return nil, fmt.Errorf("list nat rules: %w", err)
		}
		for _, r := range rules {
			if ip, ok := ruleVM(r); ok {
				seen[ip] = true
			}
		}
	}
	out := make([]netip.Addr, 0, len(seen))
	for ip := range seen {
		out = append(out, ip)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// chainRules returns the rules of ch; a missing table or chain yields none.
func chainRules(c *nftables.Conn, ch *nftables.Chain) ([]*nftables.Rule, error) {
	rules, err := c.GetRules(ch.Table, ch)
	if errors.Is(err, unix.ENOENT) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read rules of %s/%s: %w", ch.Table.Name, ch.Name, err)
	}
	return rules, nil
}

// vmRules returns the rules tagged with vmIP in the given chains.
func vmRules(c *nftables.Conn, vmIP netip.Addr, chains ...*nftables.Chain) ([]*nftables.Rule, error) {
	var out []*nftables.Rule
	for _, ch := range chains {
		rules, err := chainRules(c, ch)
		if err != nil {
			return nil, err
		}
		for _, r := range rules {
			if ip, ok := ruleVM(r); ok && ip == vmIP {
				// GetRules fills in table and chain; DelRule needs both.
				r.Table, r.Chain = ch.Table, ch
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// ruleTag returns the rule comment that identifies vmIP's rules.
func ruleTag(vmIP netip.Addr) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, ruleTagPrefix+vmIP.String())
}

// ruleVM returns the VM address a rule was tagged with by Enable.
func ruleVM(r *nftables.Rule) (netip.Addr, bool) {
	s, ok := userdata.GetString(r.UserData, userdata.TypeComment)
	if !ok {
		return netip.Addr{}, false
	}
	rest, ok := strings.CutPrefix(s, ruleTagPrefix)
	if !ok {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(rest)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip, true
}

// natRules builds, for vmIP on bridge:
//
//	postrouting: ip saddr VM oifname != BRIDGE masquerade
//	forward:     iifname BRIDGE ip saddr VM accept
//	forward:     oifname BRIDGE ip daddr VM ct state established,related accept
func natRules(vmIP netip.Addr, bridge string, post, fwd *nftables.Chain) []*nftables.Rule {
	ip := vmIP.AsSlice()
	br := ifname(bridge)
	tag := ruleTag(vmIP)
	return []*nftables.Rule{
		{
			Table: post.Table, Chain: post, UserData: tag,
			Exprs: []expr.Any{
				ipv4Addr(12), // source address
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip},
				&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: br},
				&expr.Counter{},
				&expr.Masq{},
			},
		},
		{
			Table: fwd.Table, Chain: fwd, UserData: tag,
			Exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: br},
				ipv4Addr(12),
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip},
				&expr.Counter{},
				&expr.Verdict{Kind: expr.VerdictAccept},
			},
		},
		{
			Table: fwd.Table, Chain: fwd, UserData: tag,
			Exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: br},
				ipv4Addr(16), // destination address
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ip},
				&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
				&expr.Bitwise{
					SourceRegister: 1, DestRegister: 1, Len: 4,
					Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
					Xor:  binaryutil.NativeEndian.PutUint32(0),
				},
				&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
				&expr.Counter{},
				&expr.Verdict{Kind: expr.VerdictAccept},
			},
		},
	}
}

// ipv4Addr loads the 4-byte IPv4 header field at offset (12 = saddr,
// 16 = daddr) into register 1.
func ipv4Addr(offset uint32) *expr.Payload {
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4}
}

// ifname returns name as nftables compares interface names: NUL-padded
// to IFNAMSIZ bytes.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}
