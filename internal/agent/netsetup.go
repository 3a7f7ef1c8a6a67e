package agent

import (
	"fmt"
	"net/netip"
	"strings"

	"banger/internal/dnsname"
)

// NetConfig is the guest network configuration the host passes on the kernel
// command line as banger.ip=ADDR/PREFIX banger.gw=ADDR banger.dns=ADDR
// banger.hostname=NAME.
type NetConfig struct {
	Addr     netip.Prefix
	Gateway  netip.Addr
	DNS      []netip.Addr
	Hostname string
}

// Cmdline renders c as kernel command line parameters.
func (c NetConfig) Cmdline() string {
	parts := []string{"banger.ip=" + c.Addr.String()}
	if c.Gateway.IsValid() {
		parts = append(parts, "banger.gw="+c.Gateway.String())
	}
	for _, d := range c.DNS {
		parts = append(parts, "banger.dns="+d.String())
	}
	if c.Hostname != "" {
		parts = append(parts, "banger.hostname="+c.Hostname)
	}
	return strings.Join(parts, " ")
}

// ParseCmdline reads a NetConfig from /proc/cmdline content.
func ParseCmdline(cmdline string) (NetConfig, error) {
	var c NetConfig
	for _, f := range strings.Fields(cmdline) {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		var err error
		switch k {
		case "banger.ip":
			c.Addr, err = netip.ParsePrefix(v)
		case "banger.gw":
			c.Gateway, err = netip.ParseAddr(v)
		case "banger.dns":
			var a netip.Addr
			a, err = netip.ParseAddr(v)
			c.DNS = append(c.DNS, a)
		case "banger.hostname":
			if !dnsname.ValidLabel(v) {
				err = fmt.Errorf("invalid hostname")
			}
			c.Hostname = v
		}
		if err != nil {
			return c, fmt.Errorf("parse %s: %w", f, err)
		}
	}
	if !c.Addr.IsValid() {
		return c, fmt.Errorf("no banger.ip= on the kernel command line")
	}
	return c, nil
}
