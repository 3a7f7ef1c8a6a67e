package vm

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
)

// Firewall keeps guests in their place (network.Firewall): Isolate limits
// what reaches the host and other networks from the bridge, Protect limits
// a tap to its VM's own MAC and IPv4 address.
type Firewall interface {
	Isolate(ctx context.Context, bridge string, gw netip.Addr) error
	Protect(ctx context.Context, tap, mac string, ip netip.Addr) error
	Unprotect(ctx context.Context, tap string) error
	Protected(ctx context.Context) ([]string, error)
}

// protect isolates the bridge and installs a's tap rules. The rules match
// on the tap's name, so they hold from the first frame the tap carries.
func (n *HostNet) protect(ctx context.Context, a attachment) error {
	if n.Firewall == nil {
		return nil
	}
	if err := n.Firewall.Isolate(ctx, n.Bridge, n.Pool.Gateway()); err != nil {
		return err
	}
	return n.protectTap(ctx, a)
}

// protectTap installs a's tap rules (the bridge isolated already).
func (n *HostNet) protectTap(ctx context.Context, a attachment) error {
	mac := a.MAC
	if mac == "" && a.IP.IsValid() {
		mac = n.MACFor(a.IP)
	}
	return n.Firewall.Protect(ctx, a.Tap, mac, a.IP)
}

// unprotect removes tap's rules; a failure is logged.
func (n *HostNet) unprotect(ctx context.Context, tap string) {
	if n.Firewall == nil {
		return
	}
	if err := n.Firewall.Unprotect(ctx, tap); err != nil {
		n.log().WarnContext(ctx, "remove tap rules", "tap", tap, "err", err)
	}
}

// reapply installs again the rules of the VMs reconcile adopted: they are
// idempotent, and a ruleset flushed meanwhile, or left by an older banger
// (no tap rules, NAT's forward accepts in table ip banger), would
// otherwise leave a running VM unprotected or cut off. Failures are
// logged: the VM keeps running either way.
func (n *HostNet) reapply(ctx context.Context, running []attachment) {
	if len(running) == 0 {
		return
	}
	tapRules := false // the bridge rules once, then each tap's
	if n.Firewall != nil {
		err := n.Firewall.Isolate(ctx, n.Bridge, n.Pool.Gateway())
		if err != nil {
			n.log().WarnContext(ctx, "reinstall bridge rules", "bridge", n.Bridge, "err", err)
		}
		tapRules = err == nil
	}
	for _, a := range running {
		if tapRules {
			if err := n.protectTap(ctx, a); err != nil {
				n.log().WarnContext(ctx, "reinstall tap rules", "tap", a.Tap, "err", err)
			}
		}
		if !a.NAT || !a.IP.IsValid() {
			continue
		}
		if err := n.NAT.Enable(ctx, a.IP, n.Bridge); err != nil {
			n.log().WarnContext(ctx, "reinstall nat rules", "ip", a.IP, "err", err)
		}
	}
}

// sweepRules removes the NAT rules of pool addresses no running NAT VM
// owns and the rules of taps that no running VM owns and that are gone
// (sweepTaps runs first; a tap still there is another daemon's): what a
// crash between enabling them and recording the run left behind.
func (n *HostNet) sweepRules(ctx context.Context, owned []attachment) {
	taps, nat := map[string]bool{}, map[netip.Addr]bool{}
	for _, a := range owned {
		taps[a.Tap] = true
		if a.NAT {
			nat[a.IP] = true
		}
	}
	ips, err := n.NAT.List(ctx)
	if err != nil {
		n.log().WarnContext(ctx, "list nat rules", "err", err)
	}
	for _, ip := range ips {
		if nat[ip] || !n.Pool.Prefix().Contains(ip) {
			continue
		}
		if err := n.NAT.Disable(ctx, ip); err != nil {
			n.log().WarnContext(ctx, "leftover nat rule", "ip", ip, "err", fmt.Errorf("disable nat for %s: %w", ip, err))
			continue
		}
		n.log().InfoContext(ctx, "removed leftover nat rules", "ip", ip)
	}
	if n.Firewall == nil {
		return
	}
	protected, err := n.Firewall.Protected(ctx)
	if err != nil {
		n.log().WarnContext(ctx, "list tap rules", "err", err)
	}
	live, _ := n.Links.ListTaps(ctx, "")
	for _, tap := range protected {
		if !taps[tap] && !slices.Contains(live, tap) {
			n.unprotect(ctx, tap)
			n.log().InfoContext(ctx, "removed leftover tap rules", "tap", tap)
		}
	}
}
