package network

import (
	"context"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// lab is a bridge in the test's namespace with fake guests: each guest is
// a namespace of its own whose eth0 is the peer of a veth that stands in
// for the guest's tap. Nothing leaves the namespaces the test created.
type lab struct {
	t    *testing.T
	host testNetns
	gw   netip.Prefix
	fw   *Firewall
	nat  *NAT
}

// guest is a fake guest: its namespace, netlink handle and identity.
type guest struct {
	name string
	tap  string
	ns   netns.NsHandle
	h    *netlink.Handle
	ip   netip.Addr
	mac  net.HardwareAddr
	eth  netlink.Link
}

func newLab(t *testing.T) *lab {
	tn := enterNetns(t)
	l := &lab{t: t, host: tn, gw: netip.MustParsePrefix("10.77.0.1/24")}
	if err := (Links{H: tn.h}).EnsureBridge(context.Background(), testBridge, l.gw); err != nil {
		t.Fatal(err)
	}
	if err := tn.h.LinkSetUp(mustLink(t, tn.h, "lo")); err != nil {
		t.Fatal(err)
	}
	conn := &nftables.Conn{NetNS: int(tn.ns)}
	l.fw = &Firewall{Conn: conn}
	l.nat = &NAT{Conn: conn, IPForwardPath: filepath.Join(t.TempDir(), "ip_forward")}
	return l
}

// newNetns makes a namespace without leaving the host one.
func (l *lab) newNetns() (netns.NsHandle, *netlink.Handle) {
	l.t.Helper()
	ns, err := netns.New()
	if err != nil {
		l.t.Fatalf("new netns: %v", err)
	}
	if err := netns.Set(l.host.ns); err != nil {
		l.t.Fatalf("back to the test netns: %v", err)
	}
	l.t.Cleanup(func() { ns.Close() })
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		l.t.Fatalf("netlink handle: %v", err)
	}
	l.t.Cleanup(h.Close)
	return ns, h
}

// addGuest plugs a fake guest with address 10.77.0.<n> into the bridge.
func (l *lab) addGuest(name string, n byte) *guest {
	l.t.Helper()
	ns, h := l.newNetns()
	g := &guest{name: name, tap: TapPrefix + name, ns: ns, h: h, ip: netip.AddrFrom4([4]byte{10, 77, 0, n})}
	g.mac, _ = net.ParseMAC(MACFor(g.ip))
	br, err := l.host.h.LinkByName(testBridge)
	if err != nil {
		l.t.Fatal(err)
	}
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{Name: g.tap, MasterIndex: br.Attrs().Index},
		PeerName:  "eth0", PeerHardwareAddr: g.mac, PeerNamespace: netlink.NsFd(int(ns)),
	}
	if err := l.host.h.LinkAdd(veth); err != nil {
		l.t.Fatalf("add veth %s: %v", g.tap, err)
	}
	if err := l.host.h.LinkSetUp(veth); err != nil {
		l.t.Fatal(err)
	}
	l.plugIn(g, h, g.ip, l.gw.Addr())
	return g
}

// plugIn addresses eth0 in g's namespace and routes everything via gw.
func (l *lab) plugIn(g *guest, h *netlink.Handle, ip, gw netip.Addr) {
	l.t.Helper()
	eth, err := h.LinkByName("eth0")
	if err != nil {
		l.t.Fatal(err)
	}
	g.eth = eth
	g.setAddr(l.t, ip)
	for _, lk := range []netlink.Link{eth, mustLink(l.t, h, "lo")} {
		if err := h.LinkSetUp(lk); err != nil {
			l.t.Fatal(err)
		}
	}
	if err := h.RouteReplace(&netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw.AsSlice()}); err != nil {
		l.t.Fatalf("default route: %v", err)
	}
}

func mustLink(t *testing.T, h *netlink.Handle, name string) netlink.Link {
	t.Helper()
	lk, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return lk
}

// setAddr makes ip the only address of g's eth0.
func (g *guest) setAddr(t *testing.T, ip netip.Addr) {
	t.Helper()
	old, _ := g.h.AddrList(g.eth, netlink.FAMILY_V4)
	for _, a := range old {
		_ = g.h.AddrDel(g.eth, &a)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(24, 32)}}
	if err := g.h.AddrAdd(g.eth, a); err != nil {
		t.Fatalf("%s: address %s: %v", g.name, ip, err)
	}
}

// setMAC gives g's eth0 the MAC mac.
func (g *guest) setMAC(t *testing.T, mac net.HardwareAddr) {
	t.Helper()
	if err := g.h.LinkSetHardwareAddr(g.eth, mac); err != nil {
		t.Fatalf("%s: set MAC %s: %v", g.name, mac, err)
	}
}

// neighbor pins ip to mac in g's neighbour table, so no ARP is needed.
func (g *guest) neighbor(t *testing.T, ip netip.Addr, mac net.HardwareAddr) {
	t.Helper()
	n := &netlink.Neigh{LinkIndex: g.eth.Attrs().Index, State: netlink.NUD_PERMANENT, IP: ip.AsSlice(), HardwareAddr: mac}
	if err := g.h.NeighSet(n); err != nil {
		t.Fatalf("%s: neighbour %s: %v", g.name, ip, err)
	}
}

// in runs fn with the test's thread in ns, then returns to the host one.
// Sockets fn opens stay in ns.
func (l *lab) in(ns netns.NsHandle, fn func()) {
	l.t.Helper()
	if err := netns.Set(ns); err != nil {
		l.t.Fatalf("enter netns: %v", err)
	}
	defer func() {
		if err := netns.Set(l.host.ns); err != nil {
			l.t.Fatalf("back to the test netns: %v", err)
		}
	}()
	fn()
}

// listen opens a TCP listener at addr in ns that accepts and closes
// connections until the test ends.
func (l *lab) listen(ns netns.NsHandle, addr string) {
	l.t.Helper()
	var ln net.Listener
	var err error
	l.in(ns, func() { ln, err = net.Listen("tcp", addr) })
	if err != nil {
		l.t.Fatalf("listen on %s: %v", addr, err)
	}
	l.t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// dialTimeout bounds each connection attempt; a blocked one times out.
const dialTimeout = 700 * time.Millisecond

// dial reports whether a TCP connection from ns to addr succeeds.
func (l *lab) dial(ns netns.NsHandle, addr string) error {
	var err error
	l.in(ns, func() {
		var c net.Conn
		c, err = net.DialTimeout("tcp", addr, dialTimeout)
		if err == nil {
			c.Close()
		}
	})
	return err
}

// neighMAC returns the MAC that h's neighbour table holds for ip, if any.
func neighMAC(t *testing.T, h *netlink.Handle, ip netip.Addr) net.HardwareAddr {
	t.Helper()
	ns, err := h.NeighList(0, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range ns {
		if n.IP.Equal(ip.AsSlice()) {
			return n.HardwareAddr
		}
	}
	return nil
}

// addOutside adds a network beyond the host: a namespace at 10.88.0.2
// behind a veth whose host end holds 10.88.0.1. It routes the guests'
// network back through the host, as a LAN router could.
func (l *lab) addOutside() *guest {
	l.t.Helper()
	ns, h := l.newNetns()
	g := &guest{name: "outside", ns: ns, h: h, ip: netip.MustParseAddr("10.88.0.2")}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "bgout0"}, PeerName: "eth0", PeerNamespace: netlink.NsFd(int(ns))}
	if err := l.host.h.LinkAdd(veth); err != nil {
		l.t.Fatalf("add veth: %v", err)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP{10, 88, 0, 1}, Mask: net.CIDRMask(24, 32)}}
	if err := l.host.h.AddrAdd(veth, a); err != nil {
		l.t.Fatal(err)
	}
	if err := l.host.h.LinkSetUp(veth); err != nil {
		l.t.Fatal(err)
	}
	l.plugIn(g, h, g.ip, netip.MustParseAddr("10.88.0.1"))
	return g
}
