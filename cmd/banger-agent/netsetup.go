package main

import (
	"context"
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

// netSetup configures lo and eth0 from banger.* kernel parameters using
// netlink, so it works in images that lack iproute2.
func netSetup() error {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return fmt.Errorf("read kernel command line: %w", err)
	}
	cfg, err := agent.ParseCmdline(string(b))
	if err != nil {
		return err
	}
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
	// The NIC may still be probing: give it 10s.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var eth netlink.Link
	var lerr error
	if poll.Until(ctx, 100*time.Millisecond, nil, func(context.Context) (bool, error) {
		eth, lerr = netlink.LinkByName("eth0")
		return lerr == nil, nil
	}) != nil {
		return fmt.Errorf("find eth0: %w", lerr)
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
	if len(cfg.DNS) > 0 {
		var sb strings.Builder
		for _, d := range cfg.DNS {
			fmt.Fprintf(&sb, "nameserver %s\n", d)
		}
		_ = os.Remove("/etc/resolv.conf") // may be a dangling symlink
		if err := os.WriteFile("/etc/resolv.conf", []byte(sb.String()), 0o644); err != nil {
			return fmt.Errorf("write resolv.conf: %w", err)
		}
	}
	return nil
}
