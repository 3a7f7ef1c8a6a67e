package network

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Firewall keeps guests in their place, with banger's own nftables tables
// (named "banger" like the NAT table, in the inet and bridge families):
//
//   - Isolate: a guest opens no connection to the host but DNS (port 53)
//     and ping to the gateway, and reaches no other network through the
//     host unless NAT accepted its address (NAT.Enable);
//   - Protect: a guest sends only from its own MAC and IPv4 address, ARP
//     included, and sends no other protocol (no IPv6, no VLAN tags).
//
// Base chains have policy accept and drop only traffic that arrived on
// banger's bridge or taps; other tables and interfaces are never touched.
//
// The zero value is usable and acts on the calling process's namespace.
type Firewall struct {
	// Conn is the nftables connection; nil opens one per call in the
	// calling process's network namespace.
	Conn *nftables.Conn

	mu sync.Mutex // serialises read-modify-write of the ruleset
}

const (
	filterChainIn   = "input"
	bridgeTagPrefix = "banger bridge "
)

// dnsPort is the port guests send DNS queries to: the gateway is their
// name server unless banger.dns= names another.
const dnsPort = 53

func inetTable() *nftables.Table {
	return &nftables.Table{Name: NATTable, Family: nftables.TableFamilyINet}
}

// forwardChain is the inet table's forward chain; NAT puts its per-VM
// accept rules at its head, Isolate its bridge rules at its tail.
func forwardChain() *nftables.Chain {
	accept := nftables.ChainPolicyAccept
	return &nftables.Chain{
		Name: natChainFwd, Table: inetTable(), Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept,
	}
}

func inputChain() *nftables.Chain {
	accept := nftables.ChainPolicyAccept
	return &nftables.Chain{
		Name: filterChainIn, Table: inetTable(), Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept,
	}
}

// Isolate installs (or replaces) the rules for traffic arriving on bridge,
// whose gateway address is gw:
//
//	input:   iifname BR ct state established,related accept
//	input:   iifname BR ip daddr GW udp/tcp dport 53 accept
//	input:   iifname BR ip daddr GW icmp type echo-request accept
//	input:   iifname BR drop
//	forward: iifname BR ct state established,related accept
//	forward: iifname BR oifname BR accept   (VM to VM, see Protect)
//	forward: iifname BR drop                (NAT's accepts come first)
//
// It is idempotent; rules for another bridge name are replaced too.
func (f *Firewall) Isolate(ctx context.Context, bridge string, gw netip.Addr) error {
	if err := ValidateIfName(bridge); err != nil {
		return fmt.Errorf("isolate bridge: %w", err)
	}
	if !gw.Is4() {
		return fmt.Errorf("isolate bridge %s: gateway %q is not an IPv4 address", bridge, gw)
	}
	return f.with(ctx, "isolate bridge "+bridge, func(c *nftables.Conn) error {
		in, fwd := inputChain(), forwardChain()
		old := func() ([]*nftables.Rule, error) {
			return taggedRules(c, bridgeTagPrefix, func(string) bool { return true }, in, fwd)
		}
		return replaceRules(c, []*nftables.Chain{in, fwd}, old, isolateRules(bridge, gw, in, fwd), nil)
	})
}

// with runs fn under f's lock with a connection, wrapping its error with
// what was being done.
func (f *Firewall) with(ctx context.Context, what string, fn func(c *nftables.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c, err := openConn(f.Conn)
	if err == nil {
		err = fn(c)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func isolateRules(bridge string, gw netip.Addr, in, fwd *nftables.Chain) []*nftables.Rule {
	t := tag(bridgeTagPrefix, bridge)
	br := iifIs(bridge)
	toGW := append(isIPv4(), match(ipv4Addr(16), expr.CmpOpEq, gw.AsSlice())...)
	accept, drop := verdict(expr.VerdictAccept), verdict(expr.VerdictDrop)
	echoRequest := match(&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1},
		expr.CmpOpEq, []byte{8})
	return []*nftables.Rule{
		newRule(in, t, br, ctEstablished(), accept),
		newRule(in, t, br, toGW, l4Proto(unix.IPPROTO_UDP), dport(dnsPort), accept),
		newRule(in, t, br, toGW, l4Proto(unix.IPPROTO_TCP), dport(dnsPort), accept),
		newRule(in, t, br, toGW, l4Proto(unix.IPPROTO_ICMP), echoRequest, accept),
		newRule(in, t, br, drop),
		newRule(fwd, t, br, ctEstablished(), accept),
		newRule(fwd, t, br, oifIs(expr.CmpOpEq, bridge), accept),
		newRule(fwd, t, br, drop),
	}
}

// Dropped returns how many packets the drop rules of Isolate and Protect
// have dropped so far.
func (f *Firewall) Dropped(ctx context.Context) (uint64, error) {
	var n uint64
	err := f.with(ctx, "read firewall counters", func(c *nftables.Conn) error {
		for _, ch := range []*nftables.Chain{inputChain(), forwardChain(), portsChain()} {
			rules, err := chainRules(c, ch)
			if err != nil {
				return err
			}
			n += ruleCounters(slices.DeleteFunc(rules, func(r *nftables.Rule) bool { return !isDrop(r) }))
		}
		return nil
	})
	return n, err
}

func isDrop(r *nftables.Rule) bool {
	for _, e := range r.Exprs {
		if v, ok := e.(*expr.Verdict); ok && v.Kind == expr.VerdictDrop {
			return true
		}
	}
	return false
}
