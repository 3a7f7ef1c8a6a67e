package network

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// guarded builds a lab with guests a, b and c, each protected as HostNet
// protects a VM's tap, and the bridge isolated.
func guarded(t *testing.T) (*lab, *guest, *guest, *guest) {
	l := newLab(t)
	a, b, c := l.addGuest("a", 2), l.addGuest("b", 3), l.addGuest("c", 4)
	ctx := context.Background()
	if err := l.fw.Isolate(ctx, testBridge, l.gw.Addr()); err != nil {
		t.Fatal(err)
	}
	for _, g := range []*guest{a, b, c} {
		if err := l.fw.Protect(ctx, g.tap, g.mac.String(), g.ip); err != nil {
			t.Fatal(err)
		}
	}
	return l, a, b, c
}

func addrPort(ip netip.Addr, port uint16) string { return netip.AddrPortFrom(ip, port).String() }

func TestFirewallHonestGuests(t *testing.T) {
	l, a, _, c := guarded(t)
	l.listen(c.ns, ":8080")
	l.listen(a.ns, ":22")
	l.listen(l.host.ns, addrPort(l.gw.Addr(), dnsPort))
	if err := l.dial(a.ns, addrPort(c.ip, 8080)); err != nil {
		t.Errorf("a cannot reach c on the bridge: %v", err)
	}
	if err := l.dial(l.host.ns, addrPort(a.ip, 22)); err != nil {
		t.Errorf("the host cannot reach a: %v", err)
	}
	if err := l.dial(a.ns, addrPort(l.gw.Addr(), dnsPort)); err != nil {
		t.Errorf("a cannot reach DNS on the gateway: %v", err)
	}
}

// TestFirewallSpoofing: a guest that forges another VM's or the gateway's
// address or MAC reaches nobody, and nobody learns the forged mapping.
func TestFirewallSpoofing(t *testing.T) {
	l, a, b, c := guarded(t)
	l.listen(c.ns, ":8080")
	gwMAC := mustLink(t, l.host.h, testBridge).Attrs().HardwareAddr

	// a answers for b's address (b is "still booting": it does not answer),
	// hoping to get the host's first SSH handshake.
	if err := b.h.LinkSetDown(b.eth); err != nil {
		t.Fatal(err)
	}
	a.setAddr(t, b.ip)
	l.listen(a.ns, addrPort(b.ip, 22))
	if err := l.dial(l.host.ns, addrPort(b.ip, 22)); err == nil {
		t.Errorf("the host's connection to %s reached a, which claims that address", b.ip)
	}
	if mac := neighMAC(t, l.host.h, b.ip); bytes.Equal(mac, a.mac) {
		t.Errorf("the host learned %s is at a's MAC %s", b.ip, mac)
	}
	// With b's address, a reaches nobody: not through ARP, and not with
	// the neighbour pinned either (the IPv4 source check).
	if err := l.dial(a.ns, addrPort(c.ip, 8080)); err == nil {
		t.Errorf("a, forging %s, reached c", b.ip)
	}
	if mac := neighMAC(t, c.h, b.ip); bytes.Equal(mac, a.mac) {
		t.Errorf("c learned %s is at a's MAC", b.ip)
	}
	a.neighbor(t, c.ip, c.mac)
	if err := l.dial(a.ns, addrPort(c.ip, 8080)); err == nil {
		t.Errorf("a, forging %s with c's MAC pinned, reached c", b.ip)
	}
	// The gateway's address.
	a.setAddr(t, l.gw.Addr())
	if err := l.dial(a.ns, addrPort(c.ip, 8080)); err == nil {
		t.Errorf("a, forging the gateway's address, reached c")
	}
	if mac := neighMAC(t, c.h, l.gw.Addr()); bytes.Equal(mac, a.mac) {
		t.Errorf("c learned the gateway is at a's MAC")
	}
	// Its own address, another MAC (b's, then the gateway's).
	a.setAddr(t, a.ip)
	for _, mac := range []net.HardwareAddr{b.mac, gwMAC} {
		a.setMAC(t, mac)
		if err := l.dial(a.ns, addrPort(c.ip, 8080)); err == nil {
			t.Errorf("a, forging MAC %s, reached c", mac)
		}
	}
	dropped, err := l.fw.Dropped(context.Background())
	if err != nil || dropped == 0 {
		t.Errorf("Dropped = %d, %v; want packets counted", dropped, err)
	}
	t.Logf("packets dropped: %d", dropped)
}

// TestFirewallHostServices: a guest opens no connection to the host
// beyond DNS on the gateway, whatever host address it aims at.
func TestFirewallHostServices(t *testing.T) {
	l, a, _, _ := guarded(t)
	l.listen(l.host.ns, ":2222")
	if err := l.dial(a.ns, addrPort(l.gw.Addr(), 2222)); err == nil {
		t.Errorf("a reached a host listener on the gateway address")
	}
	if err := l.dial(l.host.ns, addrPort(l.gw.Addr(), 2222)); err != nil {
		t.Errorf("the host itself cannot reach its listener: %v", err)
	}
}

// TestFirewallForwarding: with ip_forward on, only NAT VMs reach a network
// beyond the host; the others reach nothing there.
func TestFirewallForwarding(t *testing.T) {
	l, a, b, _ := guarded(t)
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644); err != nil {
		t.Fatalf("ip_forward in the test namespace: %v", err)
	}
	out := l.addOutside()
	l.listen(out.ns, ":80")
	target := addrPort(out.ip, 80)
	if err := l.dial(a.ns, target); err == nil {
		t.Errorf("a, without NAT, reached %s beyond the host", target)
	}
	if err := l.nat.Enable(context.Background(), a.ip, testBridge); err != nil {
		t.Fatal(err)
	}
	if err := l.dial(a.ns, target); err != nil {
		t.Errorf("a, with NAT, cannot reach %s: %v", target, err)
	}
	if err := l.dial(b.ns, target); err == nil {
		t.Errorf("b, without NAT, reached %s once a had NAT", target)
	}
	if err := l.nat.Disable(context.Background(), a.ip); err != nil {
		t.Fatal(err)
	}
	if err := l.dial(a.ns, target); err == nil {
		t.Errorf("a reached %s after its NAT was disabled", target)
	}
}

func TestFirewallProtectReplaceAndList(t *testing.T) {
	tn := enterNetns(t)
	ctx := context.Background()
	fw := &Firewall{Conn: &nftables.Conn{NetNS: int(tn.ns)}}
	ip := netip.MustParseAddr("10.77.0.2")
	for _, tap := range []string{"bgtap-b", "bgtap-a", "bgtap-a"} { // twice: idempotent
		if err := fw.Protect(ctx, tap, MACFor(ip), ip); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := fw.Protected(ctx); err != nil || !slices.Equal(got, []string{"bgtap-a", "bgtap-b"}) {
		t.Fatalf("Protected = %v, %v", got, err)
	}
	rules, err := fw.Conn.GetRules(portsChain().Table, portsChain())
	if err != nil || len(rules) != 8 {
		t.Fatalf("got %d rules (%v), want 4 per tap", len(rules), err)
	}
	for _, tap := range []string{"bgtap-a", "bgtap-a", "bgtap-b"} {
		if err := fw.Unprotect(ctx, tap); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := fw.Protected(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Protected after Unprotect = %v, %v", got, err)
	}
	for _, bad := range []struct{ tap, mac, ip string }{
		{"bgtap-a", "nope", "10.0.0.2"}, {"bgtap-a", MACFor(ip), "fd00::2"}, {"bad tap", MACFor(ip), "10.0.0.2"},
	} {
		if err := fw.Protect(ctx, bad.tap, bad.mac, netip.MustParseAddr(bad.ip)); err == nil {
			t.Errorf("Protect(%q, %q, %q) succeeded", bad.tap, bad.mac, bad.ip)
		}
	}
	if err := fw.Isolate(ctx, "br0", netip.MustParseAddr("fd00::1")); err == nil {
		t.Error("Isolate with an IPv6 gateway succeeded")
	}
}

// TestFirewallNoIPv6: banger gives guests no IPv6, so a guest sends none:
// not to another guest, not to the host.
func TestFirewallNoIPv6(t *testing.T) {
	l, a, _, c := guarded(t)
	for i, g := range []*guest{a, c} {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP(fmt.Sprintf("fd00::%d", i+2)), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}
		if err := g.h.AddrAdd(g.eth, addr); err != nil {
			t.Fatalf("%s: add IPv6 address: %v", g.name, err)
		}
	}
	br := mustLink(t, l.host.h, testBridge)
	hostAddr := &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("fd00::1"), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}
	if err := l.host.h.AddrAdd(br, hostAddr); err != nil {
		t.Fatal(err)
	}
	l.listen(c.ns, ":8080")
	l.listen(l.host.ns, ":2223")
	if err := l.dial(a.ns, "[fd00::3]:8080"); err == nil {
		t.Error("a reached c over IPv6")
	}
	if err := l.dial(a.ns, "[fd00::1]:2223"); err == nil {
		t.Error("a reached the host over IPv6")
	}
}

// TestFirewallSealsAGuestWithoutAddress: a tap protected with no address (a
// template booting to be snapshotted) carries nothing, even traffic from
// an address that would otherwise be valid on the bridge.
func TestFirewallSealsAGuestWithoutAddress(t *testing.T) {
	l, a, _, c := guarded(t)
	l.listen(c.ns, ":8080")
	l.listen(l.host.ns, addrPort(l.gw.Addr(), dnsPort))
	if err := l.dial(a.ns, addrPort(c.ip, 8080)); err != nil {
		t.Fatalf("before sealing, a cannot reach c: %v", err)
	}
	if err := l.fw.Protect(context.Background(), a.tap, "", netip.Addr{}); err != nil {
		t.Fatal(err)
	}
	if err := l.dial(a.ns, addrPort(c.ip, 8080)); err == nil {
		t.Error("a sealed guest reached c")
	}
	if err := l.dial(a.ns, addrPort(l.gw.Addr(), dnsPort)); err == nil {
		t.Error("a sealed guest reached the gateway")
	}
}
