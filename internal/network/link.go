package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// maxIfName is the longest interface name the kernel accepts (IFNAMSIZ-1).
const maxIfName = unix.IFNAMSIZ - 1

// dumpRetries bounds how often a netlink dump is retried when the kernel
// reports it was interrupted by a concurrent change.
const dumpRetries = 5

// Links creates and removes the bridge and the per-VM tap devices.
//
// H is the netlink handle used for every rtnetlink request; nil means the
// network namespace of the calling thread. Tap devices are created through
// /dev/net/tun, which always acts on the calling thread's namespace, so H
// must refer to that same namespace.
type Links struct {
	H *netlink.Handle
}

func (l Links) handle() *netlink.Handle {
	if l.H != nil {
		return l.H
	}
	// A zero Handle opens a socket per request in the current namespace,
	// which is what the netlink package-level functions do.
	return &netlink.Handle{}
}

// ValidateIfName checks that name is usable as a network interface name:
// 1 to 15 characters from [a-zA-Z0-9_.-], and not "." or "..".
func ValidateIfName(name string) error {
	if name == "" {
		return fmt.Errorf("interface name is empty")
	}
	if len(name) > maxIfName {
		return fmt.Errorf("interface name %q is %d characters; the kernel allows at most %d", name, len(name), maxIfName)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("interface name %q is not allowed", name)
	}
	for _, c := range name {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
		if !ok {
			return fmt.Errorf("interface name %q: only a-z, A-Z, 0-9, '_', '.' and '-' are allowed", name)
		}
	}
	return nil
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) || errors.Is(err, unix.ENODEV)
}

// EnsureBridge makes sure a bridge called name exists, holds the address
// gw (the gateway address with the pool's prefix length) and is up. It is
// idempotent. If it creates the bridge and a later step fails, the bridge
// is deleted again.
func (l Links) EnsureBridge(ctx context.Context, name string, gw netip.Prefix) (err error) {
	if err := ValidateIfName(name); err != nil {
		return fmt.Errorf("ensure bridge: %w", err)
	}
	if !gw.IsValid() || !gw.Addr().Is4() {
		return fmt.Errorf("ensure bridge %s: gateway %s is not an IPv4 address with prefix length", name, gw)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ensure bridge %s: %w", name, err)
	}
	h := l.handle()

	link, err := h.LinkByName(name)
	switch {
	case err == nil:
		if link.Type() != "bridge" {
			return fmt.Errorf("ensure bridge %s: a %s link with that name already exists; pick another bridge name in the config", name, link.Type())
		}
	case isNotFound(err):
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
		if err := h.LinkAdd(br); err != nil {
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		defer func() {
			if err != nil {
				if derr := h.LinkDel(br); derr != nil && !isNotFound(derr) {
					err = errors.Join(err, fmt.Errorf("roll back bridge %s: %w", name, derr))
				}
			}
		}()
		if link, err = h.LinkByName(name); err != nil {
			return fmt.Errorf("look up new bridge %s: %w", name, err)
		}
	default:
		return fmt.Errorf("look up bridge %s: %w", name, err)
	}

	if err := l.ensureAddr(h, link, gw); err != nil {
		return err
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("set bridge %s up: %w", name, err)
	}
	return nil
}

func (l Links) ensureAddr(h *netlink.Handle, link netlink.Link, gw netip.Prefix) error {
	name := link.Attrs().Name
	addrs, err := addrList(h, link)
	if err != nil {
		return fmt.Errorf("list addresses of bridge %s: %w", name, err)
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || ip.Unmap() != gw.Addr() {
			continue
		}
		if ones, _ := a.Mask.Size(); ones != gw.Bits() {
			return fmt.Errorf("bridge %s already has %s/%d but the pool wants %s; remove the old address or change `cidr` back",
				name, ip.Unmap(), ones, gw)
		}
		return nil
	}
	addr, err := netlink.ParseAddr(gw.String())
	if err != nil {
		return fmt.Errorf("parse gateway address %s: %w", gw, err)
	}
	if err := h.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add address %s to bridge %s: %w", gw, name, err)
	}
	return nil // (EEXIST: another daemon's start added it meanwhile)
}

func addrList(h *netlink.Handle, link netlink.Link) ([]netlink.Addr, error) {
	var err error
	for range dumpRetries {
		var addrs []netlink.Addr
		addrs, err = h.AddrList(link, netlink.FAMILY_V4)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return addrs, err
		}
	}
	return nil, err
}

// BridgeAddrs returns the IPv4 addresses (with prefix length) of the
// bridge called name.
func (l Links) BridgeAddrs(ctx context.Context, name string) ([]netip.Prefix, error) {
	if err := ValidateIfName(name); err != nil {
		return nil, fmt.Errorf("bridge addresses: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("bridge addresses of %s: %w", name, err)
	}
	h := l.handle()
	link, err := h.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("look up bridge %s: %w", name, err)
	}
	addrs, err := addrList(h, link)
	if err != nil {
		return nil, fmt.Errorf("list addresses of bridge %s: %w", name, err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ones, _ := a.Mask.Size()
		out = append(out, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return out, nil
}

// tapFlags are the flags a tap is created with. They must stay compatible
// with a VMM that re-attaches to the existing persistent device by name
// with TUNSETIFF: the kernel rejects the attach with EINVAL if
// IFF_MULTI_QUEUE differs between creation and attach, and the VMMs ask for
// multi-queue only with several queues, so the tap is single-queue.
// IFF_NO_PI and IFF_VNET_HDR are per-attach flags that a VMM sets itself
// (it always asks for IFF_NO_PI and probes IFF_VNET_HDR); creating the
// device with the same values keeps `ip -d link` honest.
const tapFlags = netlink.TUNTAP_NO_PI | netlink.TUNTAP_VNET_HDR

// CreateTap creates a persistent tap device called name, owned by root,
// attaches it to bridge and sets it up. If a link called name already
// exists it is an error, unless it is a banger tap (name starts with
// TapPrefix) that no process has open, which is a leftover of an earlier
// run and is recreated. If any step fails the new tap is deleted.
func (l Links) CreateTap(ctx context.Context, name, bridge string) (err error) {
	return l.CreateTapOwned(ctx, name, bridge, 0)
}

// CreateTapOwned is CreateTap for a tap that the user uid (and its group of
// the same number) may open, e.g. a jailed VMM running as its own uid.
func (l Links) CreateTapOwned(ctx context.Context, name, bridge string, uid int) (err error) {
	if uid < 0 {
		return fmt.Errorf("create tap %s: invalid owner uid %d", name, uid)
	}
	if err := ValidateIfName(name); err != nil {
		return fmt.Errorf("create tap: %w", err)
	}
	if err := ValidateIfName(bridge); err != nil {
		return fmt.Errorf("create tap %s: bridge: %w", name, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("create tap %s: %w", name, err)
	}
	h := l.handle()

	br, err := h.LinkByName(bridge)
	if err != nil {
		return fmt.Errorf("create tap %s: look up bridge %s: %w", name, bridge, err)
	}
	if br.Type() != "bridge" {
		return fmt.Errorf("create tap %s: %s is a %s link, not a bridge", name, bridge, br.Type())
	}

	old, err := h.LinkByName(name)
	switch {
	case err == nil:
		leftover, err := isLeftoverTap(h, old)
		if err != nil {
			return fmt.Errorf("create tap %s: inspect existing link: %w", name, err)
		}
		if !leftover {
			return fmt.Errorf("create tap %s: a %s link with that name already exists and is not an unused banger tap", name, old.Type())
		}
		if err := h.LinkDel(old); err != nil && !isNotFound(err) {
			return fmt.Errorf("create tap %s: delete leftover tap: %w", name, err)
		}
	case isNotFound(err):
	default:
		return fmt.Errorf("create tap %s: look up existing link: %w", name, err)
	}

	tap := &netlink.Tuntap{
		LinkAttrs: netlink.LinkAttrs{Name: name},
		Mode:      netlink.TUNTAP_MODE_TAP,
		Flags:     tapFlags,
		Owner:     uint32(uid),
		Group:     uint32(uid),
	}
	if err := h.LinkAdd(tap); err != nil {
		return fmt.Errorf("create tap %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			if derr := deleteLink(h, name); derr != nil {
				err = errors.Join(err, fmt.Errorf("roll back tap %s: %w", name, derr))
			}
		}
	}()

	link, err := h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("look up new tap %s (is Links.H in the calling thread's network namespace?): %w", name, err)
	}
	if err := h.LinkSetMaster(link, br); err != nil {
		return fmt.Errorf("attach tap %s to bridge %s: %w", name, bridge, err)
	}
	if err := h.LinkSetUp(link); err != nil {
		return fmt.Errorf("set tap %s up: %w", name, err)
	}
	return nil
}

// isLeftoverTap reports whether link is a banger tap nobody has open: a
// tuntap in tap mode whose name starts with TapPrefix and that has no
// carrier. The tun driver turns carrier on while a process (the VMM) has the
// device attached and off when the last one detaches; the kernel reports
// carrier in the link flags only while the device is up, so a down tap of
// ours is set up first.
func isLeftoverTap(h *netlink.Handle, link netlink.Link) (bool, error) {
	t, ok := link.(*netlink.Tuntap)
	if !ok || t.Mode != netlink.TUNTAP_MODE_TAP || !strings.HasPrefix(t.Attrs().Name, TapPrefix) {
		return false, nil
	}
	inUse, err := tapInUse(h, link)
	return !inUse, err
}

// tapInUse reports whether a process has the tap device open.
func tapInUse(h *netlink.Handle, link netlink.Link) (bool, error) {
	name := link.Attrs().Name
	if link.Attrs().RawFlags&unix.IFF_UP == 0 {
		if err := h.LinkSetUp(link); err != nil {
			return false, fmt.Errorf("set %s up to read its carrier: %w", name, err)
		}
		var err error
		if link, err = h.LinkByName(name); err != nil {
			return false, fmt.Errorf("look up %s: %w", name, err)
		}
	}
	return link.Attrs().RawFlags&unix.IFF_LOWER_UP != 0, nil
}

// deleteLink deletes the link called name; a missing link is not an error.
func deleteLink(h *netlink.Handle, name string) error {
	link, err := h.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", name, err)
	}
	if err := h.LinkDel(link); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// DeleteUnusedTap deletes a banger tap that no process has open (a
// leftover of a crash); one in use, e.g. by another daemon's VM on the same
// host, is left alone. It reports whether it deleted the tap.
func (l Links) DeleteUnusedTap(ctx context.Context, name string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, fmt.Errorf("delete tap %s: %w", name, err)
	}
	h := l.handle()
	link, err := h.LinkByName(name)
	if isNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("delete tap %s: look up: %w", name, err)
	}
	unused, err := isLeftoverTap(h, link)
	if err != nil || !unused {
		return false, err
	}
	return true, l.DeleteTap(ctx, name)
}

// DeleteTap deletes the tap device called name. A missing tap is not an
// error. A link of another type with that name is left alone and reported.
func (l Links) DeleteTap(ctx context.Context, name string) error {
	if err := ValidateIfName(name); err != nil {
		return fmt.Errorf("delete tap: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete tap %s: %w", name, err)
	}
	h := l.handle()
	link, err := h.LinkByName(name)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete tap %s: look up: %w", name, err)
	}
	if link.Type() != "tuntap" {
		return fmt.Errorf("delete tap %s: it is a %s link, not a tap; refusing to delete it", name, link.Type())
	}
	if err := h.LinkDel(link); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete tap %s: %w", name, err)
	}
	return nil
}

// ListTaps returns the names of the tun/tap devices whose names start with
// prefix (use TapPrefix for banger's), sorted.
func (l Links) ListTaps(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("list taps: %w", err)
	}
	h := l.handle()
	var links []netlink.Link
	var err error
	for range dumpRetries {
		links, err = h.LinkList()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("list taps: %w", err)
	}
	var names []string
	for _, link := range links {
		name := link.Attrs().Name
		if link.Type() == "tuntap" && strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names, nil
}
