package vm

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
)

// Links is the part of the network package the service needs.
type Links interface {
	EnsureBridge(ctx context.Context, name string, gw netip.Prefix) error
	CreateTapOwned(ctx context.Context, name, bridge string, uid int) error
	DeleteTap(ctx context.Context, name string) error
	ListTaps(ctx context.Context, prefix string) ([]string, error)
	DeleteUnusedTap(ctx context.Context, name string) (bool, error)
}

// NAT enables and disables outbound NAT for one VM, and lists the VM
// addresses that have NAT rules (for the sweep at start).
type NAT interface {
	Enable(ctx context.Context, vmIP netip.Addr, bridge string) error
	Disable(ctx context.Context, vmIP netip.Addr) error
	List(ctx context.Context) ([]netip.Addr, error)
}

// Pool allocates guest addresses.
type Pool interface {
	Prefix() netip.Prefix
	Gateway() netip.Addr
	GatewayPrefix() netip.Prefix
	Allocate(used map[netip.Addr]bool) (netip.Addr, error)
}

// HostNet is the host's network plumbing for VMs: the bridge, one tap per
// running VM on it, and per-VM NAT rules.
type HostNet struct {
	Links  Links
	NAT    NAT
	Pool   Pool
	Bridge string
	// TapPrefix names the taps of this daemon; TapName derives per-VM names.
	TapPrefix string
	TapName   func(vmID string) (string, error)
	MACFor    func(ip netip.Addr) string
	// Firewall filters what guests send (see hostfirewall.go); nil means
	// none.
	Firewall Firewall
	Log      *slog.Logger // nil means slog.Default()

	// bridgeMu makes the VMs started at once set up the bridge and its
	// firewall one at a time: two first starts on a new host raced (one
	// added the address the other then failed to add, and rolled the
	// bridge back under it).
	bridgeMu sync.Mutex
}

func (n *HostNet) log() *slog.Logger {
	if n.Log == nil {
		return slog.Default()
	}
	return n.Log
}

// attachment is a VM's place on the host network.
type attachment struct {
	Tap string
	IP  netip.Addr
	NAT bool
	// MAC is the guest NIC's address; empty means MACFor(IP), which is
	// what create records.
	MAC string
}

// undo is a stack of steps that reverse what succeeded so far.
type undo []func()

func (u *undo) push(f func()) { *u = append(*u, f) }

// run reverses the steps, last first.
func (u undo) run() {
	for i := len(u) - 1; i >= 0; i-- {
		u[i]()
	}
}

// attach makes sure the bridge exists and is isolated, protects the VM's
// tap before creating it on the bridge, owned by uid, and enables NAT when
// asked. When a step fails, the steps before it
// are undone in reverse order.
func (n *HostNet) attach(ctx context.Context, a attachment, uid int) (err error) {
	var u undo
	defer func() {
		if err != nil {
			u.run()
		}
	}()
	bg := context.WithoutCancel(ctx)
	if err := n.bridgeReady(ctx, a); err != nil {
		return err
	}
	u.push(func() { n.unprotect(bg, a.Tap) })
	if err := n.Links.CreateTapOwned(ctx, a.Tap, n.Bridge, uid); err != nil {
		return err
	}
	u.push(func() { _ = n.Links.DeleteTap(bg, a.Tap) })
	if a.NAT {
		if err := n.NAT.Enable(ctx, a.IP, n.Bridge); err != nil {
			return err
		}
	}
	return nil
}

// bridgeReady makes sure the bridge exists and is isolated, and protects
// a's tap, one VM at a time.
func (n *HostNet) bridgeReady(ctx context.Context, a attachment) error {
	n.bridgeMu.Lock()
	defer n.bridgeMu.Unlock()
	if err := n.Links.EnsureBridge(ctx, n.Bridge, n.Pool.GatewayPrefix()); err != nil {
		return err
	}
	return n.protect(ctx, a)
}

// detach undoes attach: NAT first, then the tap. Failures are logged: the
// VM is gone either way.
func (n *HostNet) detach(ctx context.Context, id string, a attachment) {
	if a.NAT && a.IP.IsValid() {
		if err := n.NAT.Disable(ctx, a.IP); err != nil {
			n.log().WarnContext(ctx, "disable nat", "id", id, "err", err)
		}
	}
	if err := n.Links.DeleteTap(ctx, a.Tap); err != nil {
		n.log().WarnContext(ctx, "delete tap", "id", id, "tap", a.Tap, "err", err)
	}
	n.unprotect(ctx, a.Tap)
}

// setNAT turns a running VM's NAT on or off.
func (n *HostNet) setNAT(ctx context.Context, ip netip.Addr, on bool) error {
	if on {
		return n.NAT.Enable(ctx, ip, n.Bridge)
	}
	return n.NAT.Disable(ctx, ip)
}

// sweepTaps deletes this daemon's taps that no running VM owns and that no
// process holds open (another daemon on this host may run VMs on taps with
// our prefix).
func (n *HostNet) sweepTaps(ctx context.Context, owned map[string]bool) {
	taps, err := n.Links.ListTaps(ctx, n.TapPrefix)
	if err != nil {
		return // no bridge yet, nothing to clean
	}
	for _, t := range taps {
		if owned[t] {
			continue
		}
		if deleted, err := n.Links.DeleteUnusedTap(ctx, t); deleted {
			n.log().InfoContext(ctx, "removed leftover tap", "tap", t)
		} else if err != nil {
			n.log().WarnContext(ctx, "leftover tap", "tap", t, "err", fmt.Errorf("delete tap %s: %w", t, err))
		}
	}
}
