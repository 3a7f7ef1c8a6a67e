package vm_test

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"banger/internal/network"
	"banger/internal/vm"
	"banger/internal/vm/vmtest"
)

// TestReconcileSweepsNATRules: NAT rules that no running VM owns (a crash
// after attach enabled NAT and before the run was recorded leaves one) are
// removed at start; a running NAT VM keeps (or gets back) its rule, and
// addresses outside the pool (another daemon's) are left alone.
func TestReconcileSweepsNATRules(t *testing.T) {
	e := vmtest.New(t)
	alive := create(t, e, vm.CreateRequest{Name: "alive", NAT: &[]bool{true}[0]})
	crashed := create(t, e, vm.CreateRequest{Name: "crashed", NoStart: true})
	foreign := netip.MustParseAddr("192.0.2.9")
	for _, ip := range []string{crashed.IP, foreign.String()} {
		if err := e.NAT.Enable(ctx, netip.MustParseAddr(ip), "bgtest0"); err != nil {
			t.Fatal(err)
		}
	}
	// The ruleset was flushed while the daemon was away (or an older
	// banger kept the rules elsewhere): the adopted VM gets its rule back.
	if err := e.NAT.Disable(ctx, netip.MustParseAddr(alive.IP)); err != nil {
		t.Fatal(err)
	}
	svc := e.NewService()
	if err := svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if e.NAT.Enabled(crashed.IP) {
		t.Errorf("NAT rule of %s, which no running VM owns, survived reconcile", crashed.IP)
	}
	if !e.NAT.Enabled(alive.IP) {
		t.Errorf("the running NAT VM %s lost its rule", alive.IP)
	}
	if !e.NAT.Enabled(foreign.String()) {
		t.Errorf("a rule outside the pool was removed")
	}
}

// fakeFirewall records what HostNet asks of a vm.Firewall.
type fakeFirewall struct {
	mu        sync.Mutex
	isolated  map[string]netip.Addr // bridge -> gateway
	protected map[string]string     // tap -> "MAC IP"
	// tapExisted records, at each Protect, whether the tap was already
	// there: the rules must come first.
	tapExisted []bool
	links      *vmtest.Links
}

func newFakeFirewall(l *vmtest.Links) *fakeFirewall {
	return &fakeFirewall{isolated: map[string]netip.Addr{}, protected: map[string]string{}, links: l}
}

func (f *fakeFirewall) Isolate(_ context.Context, bridge string, gw netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.isolated[bridge] = gw
	return nil
}

func (f *fakeFirewall) Protect(_ context.Context, tap, mac string, ip netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.protected[tap] = mac + " " + ip.String()
	f.tapExisted = append(f.tapExisted, f.links.Has(tap))
	return nil
}

func (f *fakeFirewall) Unprotect(_ context.Context, tap string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.protected, tap)
	return nil
}

func (f *fakeFirewall) Protected(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.protected)), nil
}

func (f *fakeFirewall) rules(tap string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.protected[tap]
	return r, ok
}

// TestFirewallFollowsTheTap: starting a VM isolates the bridge and
// protects its tap (before the tap exists) with the VM's MAC and address;
// stopping removes the rules; reconcile removes rules no VM owns and
// installs again those of the VMs it adopts.
func TestFirewallFollowsTheTap(t *testing.T) {
	e := vmtest.New(t)
	fw := newFakeFirewall(e.Links)
	e.Service.Net.Firewall = fw
	in := create(t, e, vm.CreateRequest{Name: "guarded"})
	want := network.MACFor(netip.MustParseAddr(in.IP)) + " " + in.IP
	if got, ok := fw.rules(in.Tap); !ok || got != want {
		t.Fatalf("tap %s rules = %q, %v; want %q", in.Tap, got, ok, want)
	}
	fw.mu.Lock()
	gw := fw.isolated["bgtest0"]
	fw.mu.Unlock()
	if gw != e.Service.Net.Pool.Gateway() {
		t.Fatalf("bridge isolated with gateway %v, want %v", gw, e.Service.Net.Pool.Gateway())
	}
	if slices.Contains(fw.tapExisted, true) {
		t.Fatal("the tap existed before its rules were installed")
	}
	if _, err := e.Service.Stop(ctx, "guarded", nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := fw.rules(in.Tap); ok {
		t.Fatalf("tap %s keeps its rules after stop", in.Tap)
	}

	_ = fw.Protect(ctx, network.TapPrefix+"deadbeef", "52:54:00:00:00:09", netip.MustParseAddr("172.31.7.9"))
	// A running VM whose rules were flushed while the daemon was away.
	up := create(t, e, vm.CreateRequest{Name: "adoptee"})
	_ = fw.Unprotect(ctx, up.Tap)
	svc := e.NewService()
	svc.Net.Firewall = fw
	if err := svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := fw.Protected(ctx); !slices.Equal(got, []string{up.Tap}) {
		t.Fatalf("after reconcile, protected taps = %v; want only the adopted VM's %s", got, up.Tap)
	}
}
