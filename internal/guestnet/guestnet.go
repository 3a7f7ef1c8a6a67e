// Package guestnet configures a guest's network from the banger.* kernel
// parameters, through netlink, so images need no iproute2, ifupdown or
// DHCP client.
package guestnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"

	"banger/internal/agent"
	"banger/internal/poll"
)

// nicWait bounds the wait for eth0, which may still be probing.
const nicWait = 10 * time.Second

// Configure sets the hostname (and /etc/hostname, /etc/hosts), brings up
// lo and eth0 with cfg's address and default route, and writes
// /etc/resolv.conf when cfg names DNS servers.
func Configure(ctx context.Context, cfg agent.NetConfig) error {
	if cfg.Hostname != "" {
		if err := syscall.Sethostname([]byte(cfg.Hostname)); err != nil {
			return fmt.Errorf("set hostname: %w", err)
		}
		_ = os.WriteFile("/etc/hostname", []byte(cfg.Hostname+"\n"), 0o644)
		hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n", cfg.Hostname)
		_ = os.WriteFile("/etc/hosts", []byte(hosts), 0o644)
	}
	if lo, err := netlink.LinkByName("lo"); err == nil {
		_ = netlink.LinkSetUp(lo)
	}
	eth, err := waitLink(ctx, "eth0")
	if err != nil {
		return err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: cfg.Addr.Addr().AsSlice(), Mask: net.CIDRMask(cfg.Addr.Bits(), 32)}}
	if err := netlink.AddrReplace(eth, addr); err != nil {
		return fmt.Errorf("address eth0: %w", err)
	}
	if err := netlink.LinkSetUp(eth); err != nil {
		return fmt.Errorf("bring up eth0: %w", err)
	}
	if cfg.Gateway.IsValid() {
		route := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: cfg.Gateway.AsSlice()}
		if err := netlink.RouteReplace(route); err != nil {
			return fmt.Errorf("default route via %s: %w", cfg.Gateway, err)
		}
	}
	if len(cfg.DNS) == 0 {
		return nil
	}
	var sb strings.Builder
	for _, d := range cfg.DNS {
		fmt.Fprintf(&sb, "nameserver %s\n", d)
	}
	_ = os.Remove("/etc/resolv.conf") // may be a dangling symlink
	if err := os.WriteFile("/etc/resolv.conf", []byte(sb.String()), 0o644); err != nil {
		return fmt.Errorf("write resolv.conf: %w", err)
	}
	return nil
}

func waitLink(ctx context.Context, name string) (netlink.Link, error) {
	ctx, cancel := context.WithTimeout(ctx, nicWait)
	defer cancel()
	var link netlink.Link
	var last error
	err := poll.Until(ctx, 100*time.Millisecond, nil, func(context.Context) (bool, error) {
		link, last = netlink.LinkByName(name)
		return last == nil, nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		err = last
	}
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", name, err)
	}
	return link, nil
}
