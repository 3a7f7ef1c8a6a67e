package vm_test

import (
	"net/netip"
	"testing"

	"banger/internal/vm"
	"banger/internal/vm/vmtest"
)

// TestReconcileSweepsNATRules: NAT rules that no running VM owns (a crash
// after attach enabled NAT and before the run was recorded leaves one) are
// removed at start; a running NAT VM keeps its rule, and addresses outside
// the pool (another daemon's) are left alone.
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
