package network

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"golang.org/x/sys/unix"
)

// openConn returns c, or a new connection in the calling process's
// network namespace when c is nil.
func openConn(c *nftables.Conn) (*nftables.Conn, error) {
	if c != nil {
		return c, nil
	}
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("open nftables connection: %w", err)
	}
	return c, nil
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

// taggedRules returns the rules of chains whose comment is prefix+value
// for a value keep accepts, ready for DelRule.
func taggedRules(c *nftables.Conn, prefix string, keep func(value string) bool, chains ...*nftables.Chain) ([]*nftables.Rule, error) {
	var out []*nftables.Rule
	for _, ch := range chains {
		rules, err := chainRules(c, ch)
		if err != nil {
			return nil, err
		}
		for _, r := range rules {
			if v, ok := ruleTagValue(r, prefix); ok && keep(v) {
				// GetRules fills in table and chain; DelRule needs both.
				r.Table, r.Chain = ch.Table, ch
				out = append(out, r)
			}
		}
	}
	return out, nil
}

// deleteRules queues the deletion of rules on c.
func deleteRules(c *nftables.Conn, rules []*nftables.Rule) error {
	for _, r := range rules {
		if err := c.DelRule(r); err != nil {
			return fmt.Errorf("delete rule %d of %s: %w", r.Handle, r.Chain.Name, err)
		}
	}
	return nil
}

// tag returns the rule comment prefix+value.
func tag(prefix, value string) []byte {
	return userdata.AppendString(nil, userdata.TypeComment, prefix+value)
}

// ruleTagValue returns what follows prefix in r's comment.
func ruleTagValue(r *nftables.Rule, prefix string) (string, bool) {
	s, ok := userdata.GetString(r.UserData, userdata.TypeComment)
	if !ok {
		return "", false
	}
	return strings.CutPrefix(s, prefix)
}

// ifname returns name as nftables compares interface names: NUL-padded
// to IFNAMSIZ bytes.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// ipv4Addr loads the 4-byte IPv4 header field at offset (12 = saddr,
// 16 = daddr) into register 1.
func ipv4Addr(offset uint32) *expr.Payload {
	return &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4}
}

// match loads a value with load and compares it with data.
func match(load expr.Any, op expr.CmpOp, data []byte) []expr.Any {
	return []expr.Any{load, &expr.Cmp{Op: op, Register: 1, Data: data}}
}

// iifIs matches packets that came in on interface name.
func iifIs(name string) []expr.Any {
	return match(&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1}, expr.CmpOpEq, ifname(name))
}

// oifIs matches packets that leave through interface name (op Eq or Neq).
func oifIs(op expr.CmpOp, name string) []expr.Any {
	return match(&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1}, op, ifname(name))
}

// isIPv4 matches IPv4 packets in an inet table.
func isIPv4() []expr.Any {
	return match(&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1}, expr.CmpOpEq, []byte{unix.NFPROTO_IPV4})
}

// l4Proto matches the transport protocol (unix.IPPROTO_TCP, ...).
func l4Proto(p byte) []expr.Any {
	return match(&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1}, expr.CmpOpEq, []byte{p})
}

// dport matches the TCP or UDP destination port.
func dport(port uint16) []expr.Any {
	load := &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
	return match(load, expr.CmpOpEq, binaryutil.BigEndian.PutUint16(port))
}

// ctEstablished matches packets of established or related connections.
func ctEstablished() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: expr.CtKeySTATE},
		&expr.Bitwise{
			SourceRegister: 1, DestRegister: 1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0),
		},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

// verdict counts the packet and gives it kind (accept or drop).
func verdict(kind expr.VerdictKind) []expr.Any {
	return []expr.Any{&expr.Counter{}, &expr.Verdict{Kind: kind}}
}

// newRule builds a rule of ch with comment t from the given parts.
func newRule(ch *nftables.Chain, t []byte, parts ...[]expr.Any) *nftables.Rule {
	var exprs []expr.Any
	for _, p := range parts {
		exprs = append(exprs, p...)
	}
	return &nftables.Rule{Table: ch.Table, Chain: ch, UserData: t, Exprs: exprs}
}

// ruleCounters sums the packets counted by rules.
func ruleCounters(rules []*nftables.Rule) uint64 {
	var n uint64
	for _, r := range rules {
		for _, e := range r.Exprs {
			if c, ok := e.(*expr.Counter); ok {
				n += c.Packets
			}
		}
	}
	return n
}

// replaceRules makes sure chains and their tables exist, then in one
// transaction deletes the rules old returns and adds add (appended) and
// prepend (at the head of their chain, in order).
func replaceRules(c *nftables.Conn, chains []*nftables.Chain, old func() ([]*nftables.Rule, error), add, prepend []*nftables.Rule) error {
	for _, ch := range chains {
		c.AddTable(ch.Table)
		c.AddChain(ch)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("create chains of table %s: %w", NATTable, err)
	}
	rules, err := old()
	if err != nil {
		return err
	}
	if err := deleteRules(c, rules); err != nil {
		return fmt.Errorf("replace old rule: %w", err)
	}
	for _, r := range add {
		c.AddRule(r)
	}
	for _, r := range slices.Backward(prepend) {
		c.InsertRule(r)
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("add rules: %w", err)
	}
	return nil
}
