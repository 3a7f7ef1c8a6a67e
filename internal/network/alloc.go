// Package network provides the host side of VM networking: address
// allocation from a pool, the bridge and per-VM tap devices, and per-VM
// NAT rules in nftables.
//
// Everything acts on the network namespace of the calling process (or of
// the netlink handle / nftables connection held in the structs), so tests
// can point it at a namespace of their own.
package network

import (
	"fmt"
	"net/netip"
	"strings"
)

// Prefix length limits for a pool. A /29 is the smallest network that
// still leaves room for a gateway and a handful of VMs; a /16 is plenty.
const (
	minPoolBits = 16
	maxPoolBits = 29
)

// Pool is an IPv4 network VMs get their addresses from. The first host
// address is the gateway (the bridge's address); VMs get the ones after it.
type Pool struct {
	prefix netip.Prefix
}

// ParsePool parses cidr, an IPv4 network in CIDR notation with a prefix
// length between /16 and /29. Host bits must be zero.
func ParsePool(cidr string) (Pool, error) {
	const example = "172.30.0.0/24"
	p, err := netip.ParsePrefix(strings.TrimSpace(cidr))
	if err != nil || !p.Addr().Is4() {
		return Pool{}, fmt.Errorf("cidr %q: want an IPv4 network such as %s", cidr, example)
	}
	if b := p.Bits(); b < minPoolBits || b > maxPoolBits {
		return Pool{}, fmt.Errorf("cidr %q: prefix length /%d is out of range; want /%d to /%d, such as %s",
			cidr, b, minPoolBits, maxPoolBits, example)
	}
	if m := p.Masked(); m != p {
		return Pool{}, fmt.Errorf("cidr %q: host bits are set; did you mean %s?", cidr, m)
	}
	return Pool{prefix: p}, nil
}

// Prefix returns the pool's network.
func (p Pool) Prefix() netip.Prefix { return p.prefix }

// String returns the pool in CIDR notation.
func (p Pool) String() string { return p.prefix.String() }

// Gateway returns the first host address of the pool, which the bridge
// holds and VMs use as their default route.
func (p Pool) Gateway() netip.Addr { return p.prefix.Addr().Next() }

// GatewayPrefix returns the gateway address with the pool's prefix length,
// ready to be assigned to the bridge.
func (p Pool) GatewayPrefix() netip.Prefix {
	return netip.PrefixFrom(p.Gateway(), p.prefix.Bits())
}

// broadcast returns the last address of the pool.
func (p Pool) broadcast() netip.Addr {
	a := p.prefix.Addr().As4()
	host := uint32(1)<<(32-p.prefix.Bits()) - 1
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v |= host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Contains reports whether ip is a VM address of the pool: inside the
// network and neither the network address, the gateway nor broadcast.
func (p Pool) Contains(ip netip.Addr) bool {
	if !p.prefix.IsValid() || !p.prefix.Contains(ip) {
		return false
	}
	return ip != p.prefix.Addr() && ip != p.Gateway() && ip != p.broadcast()
}

// Allocate returns the lowest host address after the gateway that is not
// in used. It never returns the network, gateway or broadcast address.
func (p Pool) Allocate(used map[netip.Addr]bool) (netip.Addr, error) {
	if !p.prefix.IsValid() {
		return netip.Addr{}, fmt.Errorf("allocate address: pool is not initialised; use ParsePool")
	}
	last := p.broadcast()
	for ip := p.Gateway().Next(); ip.IsValid() && ip.Less(last); ip = ip.Next() {
		if !used[ip] {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("allocate address: pool %s is exhausted (%d VM addresses in use); widen `cidr` in the config, e.g. to a shorter prefix length",
		p.prefix, p.capacity())
}

// capacity is the number of VM addresses in the pool.
func (p Pool) capacity() int {
	return 1<<(32-p.prefix.Bits()) - 3
}

// MACFor returns the guest MAC address for ip: the locally administered
// OUI 52:54:00 that KVM-based VMMs use followed by the last three bytes of the IPv4
// address, so the same address always gets the same MAC.
func MACFor(ip netip.Addr) string {
	a := ip.Unmap().As4()
	return fmt.Sprintf("52:54:00:%02x:%02x:%02x", a[1], a[2], a[3])
}

// TapPrefix starts the name of every tap device banger creates.
const TapPrefix = "bgtap-"

// tapIDLen is how many characters of the VM id go into a tap name;
// len(TapPrefix)+tapIDLen must stay within IFNAMSIZ-1 (15).
const tapIDLen = 8

// TapName returns the tap device name for the VM with id vmID:
// "bgtap-" followed by the first 8 characters of the id (all of it if
// shorter). The id must be non-empty and contain only a-z and 0-9.
func TapName(vmID string) (string, error) {
	if vmID == "" {
		return "", fmt.Errorf("tap name: vm id is empty")
	}
	for _, c := range vmID {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return "", fmt.Errorf("tap name for vm id %q: id must contain only a-z and 0-9", vmID)
		}
	}
	return TapPrefix + vmID[:min(len(vmID), tapIDLen)], nil
}
