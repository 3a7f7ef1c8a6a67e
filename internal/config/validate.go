package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"banger/internal/image/catalog"
	"banger/internal/image/imageref"
	"banger/internal/network"
	"banger/internal/units"
	"banger/internal/vmm"
)

var (
	ifNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)
)

// Validate checks every field, and the backend keys with the backends of
// reg, and reports all problems at once, each saying what to write
// instead. It expects defaults to have been applied (as Load does); empty
// required values are reported.
func (c *Config) Validate(reg *vmm.Registry) error {
	var errs []error
	errs = append(errs, c.validatePaths()...)
	errs = append(errs, c.validateChoices(reg)...)
	errs = append(errs, c.validateNetwork()...)
	errs = append(errs, c.validateSources()...)
	errs = append(errs, c.validateTimes()...)
	errs = append(errs, c.validateLifetimes()...)
	errs = append(errs, c.VMDefaults.validate()...)
	for i, f := range c.FileSync {
		errs = append(errs, f.validate(fmt.Sprintf("file_sync[%d]", i))...)
	}
	return errors.Join(errs...)
}

// problems collects validation errors.
type problems []error

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Errorf(format, args...)) }

func (c *Config) validatePaths() problems {
	var p problems
	checkDir := func(key, v, example string) {
		switch {
		case v == "":
			p.add("%s is empty: set an absolute path, e.g. %s = %q", key, key, example)
		case !filepath.IsAbs(v):
			p.add("%s %q is not absolute: use a full path, e.g. %s = %q", key, v, key, example)
		case filepath.Clean(v) != v:
			p.add("%s %q is not clean: write it as %s = %q", key, v, key, filepath.Clean(v))
		}
	}
	checkDir("state_dir", c.StateDir, "/var/lib/banger")
	checkDir("runtime_dir", c.RuntimeDir, "/run/banger")
	checkDir("ssh_key_path", c.SSHKeyPath, "/var/lib/banger/ssh/id_ed25519")
	return p
}

func (c *Config) validateChoices(reg *vmm.Registry) problems {
	var p problems
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel) {
		p.add("log_level %q is not valid: use one of debug, info, warn, error", c.LogLevel)
	}
	return append(p, reg.Validate(c.VMM, c.Backends)...)
}

func (c *Config) validateNetwork() problems {
	var p problems
	if !ifNameRE.MatchString(c.BridgeName) || c.BridgeName == "." || c.BridgeName == ".." {
		p.add("bridge_name %q is not a valid interface name: use 1-15 letters, digits, '-', '_' or '.', e.g. bridge_name = %q",
			c.BridgeName, DefaultBridgeName)
	}
	if err := validateCIDR(c.CIDR); err != nil {
		p = append(p, err)
	}
	if c.DNSAddr != "off" {
		if ap, err := netip.ParseAddrPort(c.DNSAddr); err != nil || !ap.Addr().IsLoopback() {
			p.add(`dns_addr %q: use a loopback address and port such as "127.0.0.1:5354", or "off"`, c.DNSAddr)
		}
	}
	if c.UIAddr != "off" {
		if ap, err := netip.ParseAddrPort(c.UIAddr); err != nil || !ap.Addr().IsLoopback() {
			p.add(`ui_addr %q: use a loopback address and port such as "127.0.0.1:7878", or "off"`, c.UIAddr)
		}
	}
	return p
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func (c *Config) validateSources() problems {
	var p problems
	if !imageref.ValidName(c.DefaultImage) {
		p.add("default_image %q is not a valid image name: use lowercase letters, digits, '.' and '-', starting with a letter or digit (max 63), e.g. default_image = %q",
			c.DefaultImage, DefaultImage)
	}
	if !httpURL(c.DebianMirror) {
		p.add("debian_mirror %q is not an http(s) URL: e.g. debian_mirror = %q", c.DebianMirror, DefaultDebianMirror)
	}
	if c.CatalogURL != "" {
		if err := catalog.CheckURL(c.CatalogURL); err != nil {
			p.add("catalog_url: %w: e.g. catalog_url = %q, or leave it out to use only the built-in catalog", err, "https://example.org/banger/catalog.json")
		}
	}
	return p
}

func (c *Config) validateTimes() problems {
	var p problems
	if _, err := c.BootTimeoutDuration(); err != nil {
		p = append(p, err)
	}
	if _, err := c.StopTimeoutDuration(); err != nil {
		p = append(p, err)
	}
	if _, err := c.OperationsKeepDuration(); err != nil {
		p = append(p, err)
	}
	if _, err := c.ConsoleLogBytes(); err != nil {
		p = append(p, err)
	}
	return p
}

func (d VMDefaults) validate() problems {
	var p problems
	if d.VCPU < 0 {
		p.add("vm_defaults.vcpu %d is negative: use at least 1, e.g. vcpu = 2", d.VCPU)
	}
	if d.MemoryMiB < 0 {
		p.add("vm_defaults.memory_mib %d is negative: e.g. memory_mib = 2048", d.MemoryMiB)
	} else if d.MemoryMiB > 0 && d.MemoryMiB < 128 {
		p.add("vm_defaults.memory_mib %d is too small: use at least 128, e.g. memory_mib = 2048", d.MemoryMiB)
	}
	if d.DiskSize != "" {
		if _, err := units.ParseSize(d.DiskSize); err != nil {
			p.add("vm_defaults.disk_size: %w", err)
		}
	}
	if d.RootSize != "" {
		if _, err := units.ParseSize(d.RootSize); err != nil {
			p.add("vm_defaults.root_size: %w, e.g. root_size = %q", err, DefaultRootSize)
		}
	}
	return p
}

func (f FileSync) validate(where string) problems {
	var p problems
	if f.Host == "" {
		p.add("%s: host is empty: set the file to copy, e.g. host = \"~/.gitconfig\"", where)
	}
	switch {
	case f.Guest == "":
		p.add("%s: guest is empty: set a path under /root, e.g. guest = \"/root/.gitconfig\"", where)
	case !path.IsAbs(f.Guest) || path.Clean(f.Guest) != f.Guest:
		p.add("%s: guest %q must be a clean absolute path under /root, e.g. guest = \"/root/.gitconfig\"", where, f.Guest)
	case f.Guest != "/root" && !strings.HasPrefix(f.Guest, "/root/"):
		p.add("%s: guest %q is outside /root: only paths under /root are synced, e.g. guest = \"/root/.gitconfig\"", where, f.Guest)
	}
	if f.Mode != "" {
		if m, err := strconv.ParseUint(f.Mode, 8, 32); err != nil || m > 0o7777 {
			p.add("%s: mode %q is not an octal permission: e.g. mode = \"0600\"", where, f.Mode)
		}
	}
	return p
}

func validateCIDR(s string) error {
	ip, n, err := net.ParseCIDR(s)
	if err != nil || ip.To4() == nil {
		return fmt.Errorf("cidr %q is not an IPv4 CIDR: e.g. cidr = %q", s, DefaultCIDR)
	}
	ones, _ := n.Mask.Size()
	if ones > 29 {
		return fmt.Errorf("cidr %q is too small: use a /29 or larger network, e.g. cidr = %q", s, DefaultCIDR)
	}
	if !ip.Equal(n.IP) {
		return fmt.Errorf("cidr %q has host bits set: write the network address, cidr = %q", s, n.String())
	}
	// The daemon's own rule, so that a config that loads also starts: it
	// refuses what net.ParseCIDR lets through ("/00", shorter than /16).
	// Found by FuzzLoad.
	if _, err := network.ParsePool(s); err != nil {
		return err
	}
	return nil
}
