package network

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
)

const (
	portsChainName = "ports"
	tapTagPrefix   = "banger tap "
	etherTypeIPv4  = 0x0800
	etherTypeARP   = 0x0806
)

// arpEthIPv4 is the fixed start of an ARP packet for IPv4 over Ethernet:
// hardware type 1, protocol 0x0800, address lengths 6 and 4.
var arpEthIPv4 = []byte{0, 1, 8, 0, 6, 4}

// portsChain is the bridge table's prerouting chain, which sees every
// frame a tap hands to the bridge before it is forwarded or delivered.
func portsChain() *nftables.Chain {
	accept := nftables.ChainPolicyAccept
	return &nftables.Chain{
		Name:     portsChainName,
		Table:    &nftables.Table{Name: NATTable, Family: nftables.TableFamilyBridge},
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookPrerouting,
		Priority: nftables.ChainPriorityRef(-200), // the bridge family's "filter"
		Policy:   &accept,
	}
}

// Protect lets the guest behind tap send only frames from mac carrying
// IPv4 from ip or ARP that names mac and ip as the sender; everything else
// from the tap (other addresses, IPv6, VLAN tags, other protocols) is
// dropped before it reaches the bridge. It is idempotent: the tap's old
// rules are replaced in the same transaction.
//
//	iifname TAP ether saddr != MAC drop
//	iifname TAP ether type ip ip saddr IP accept
//	iifname TAP ether type arp arp htype 1 ptype ip hlen 6 plen 4 saddr ether MAC saddr ip IP accept
//	iifname TAP drop
//
// A guest without an address (the zero ip: a template booting to be
// snapshotted, which takes its address only in each clone) may send
// nothing at all.
func (f *Firewall) Protect(ctx context.Context, tap, mac string, ip netip.Addr) error {
	if err := ValidateIfName(tap); err != nil {
		return fmt.Errorf("protect tap: %w", err)
	}
	rules := func(ch *nftables.Chain) []*nftables.Rule {
		return []*nftables.Rule{newRule(ch, tag(tapTagPrefix, tap), iifIs(tap), verdict(expr.VerdictDrop))}
	}
	if ip.IsValid() {
		hw, err := net.ParseMAC(mac)
		if err != nil || len(hw) != 6 {
			return fmt.Errorf("protect tap %s: %q is not an Ethernet MAC address", tap, mac)
		}
		if !ip.Is4() {
			return fmt.Errorf("protect tap %s: %q is not an IPv4 address", tap, ip)
		}
		rules = func(ch *nftables.Chain) []*nftables.Rule { return portRules(ch, tap, hw, ip) }
	}
	return f.with(ctx, "protect tap "+tap, func(c *nftables.Conn) error {
		ch := portsChain()
		old := func() ([]*nftables.Rule, error) { return tapRules(c, tap) }
		return replaceRules(c, []*nftables.Chain{ch}, old, rules(ch), nil)
	})
}

func portRules(ch *nftables.Chain, tap string, mac net.HardwareAddr, ip netip.Addr) []*nftables.Rule {
	t := tag(tapTagPrefix, tap)
	in := iifIs(tap)
	ll := func(off, n uint32) *expr.Payload {
		return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: off, Len: n}
	}
	nh := func(off, n uint32) *expr.Payload {
		return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}
	}
	etherType := func(v uint16) []expr.Any {
		return match(ll(12, 2), expr.CmpOpEq, binaryutil.BigEndian.PutUint16(v))
	}
	addr := ip.AsSlice()
	return []*nftables.Rule{
		newRule(ch, t, in, match(ll(6, 6), expr.CmpOpNeq, mac), verdict(expr.VerdictDrop)),
		newRule(ch, t, in, etherType(etherTypeIPv4), match(nh(12, 4), expr.CmpOpEq, addr), verdict(expr.VerdictAccept)),
		newRule(ch, t, in, etherType(etherTypeARP), match(nh(0, 6), expr.CmpOpEq, arpEthIPv4),
			match(nh(8, 6), expr.CmpOpEq, mac), match(nh(14, 4), expr.CmpOpEq, addr), verdict(expr.VerdictAccept)),
		newRule(ch, t, in, verdict(expr.VerdictDrop)),
	}
}

// Unprotect removes tap's rules; a tap without rules is not an error.
func (f *Firewall) Unprotect(ctx context.Context, tap string) error {
	return f.with(ctx, "unprotect tap "+tap, func(c *nftables.Conn) error {
		rules, err := tapRules(c, tap)
		if err != nil || len(rules) == 0 {
			return err
		}
		if err := deleteRules(c, rules); err != nil {
			return err
		}
		return c.Flush()
	})
}

// tapRules returns tap's rules, or every tap's when tap is "".
func tapRules(c *nftables.Conn, tap string) ([]*nftables.Rule, error) {
	return taggedRules(c, tapTagPrefix, func(v string) bool { return tap == "" || v == tap }, portsChain())
}

// Protected returns the taps that have rules, sorted.
func (f *Firewall) Protected(ctx context.Context) ([]string, error) {
	var out []string
	err := f.with(ctx, "list protected taps", func(c *nftables.Conn) error {
		rules, err := tapRules(c, "")
		for _, r := range rules {
			if v, _ := ruleTagValue(r, tapTagPrefix); !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
		return err
	})
	slices.Sort(out)
	return out, err
}
