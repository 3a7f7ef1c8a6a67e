// Package config loads and validates banger's TOML configuration file and
// supplies defaults derived from the user and host.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"banger/internal/vmm"
)

// Built-in defaults.
const (
	DefaultLogLevel     = "info"
	DefaultVMM          = "auto"
	DefaultBridgeName   = "br-banger"
	DefaultCIDR         = "172.30.0.0/24"
	DefaultImage        = "debian-bookworm"
	DefaultDebianMirror = "http://deb.debian.org/debian"
	DefaultStopTimeout  = "30s"
	DefaultBootTimeout  = "5m"
	DefaultDNSAddr      = "127.0.0.1:5354"

	DefaultVCPUs     = 1
	DefaultMemoryMiB = 1024
	DefaultDiskSize  = "8G"

	// SystemConfigPath is read when running as root.
	SystemConfigPath = "/etc/banger/config.toml"
	// EnvConfig names the environment variable that selects a config file.
	EnvConfig = "BANGER_CONFIG"
)

// Config is the contents of config.toml. Every key is optional; Load fills
// in defaults for anything left unset.
type Config struct {
	StateDir     string `toml:"state_dir"`
	RuntimeDir   string `toml:"runtime_dir"`
	LogLevel     string `toml:"log_level"`
	VMM          string `toml:"vmm"`
	BridgeName   string `toml:"bridge_name"`
	CIDR         string `toml:"cidr"`
	NATDefault   bool   `toml:"nat_default"`
	DefaultImage string `toml:"default_image"`
	DebianMirror string `toml:"debian_mirror"`
	CatalogURL   string `toml:"catalog_url"`
	SSHKeyPath   string `toml:"ssh_key_path"`
	StopTimeout  string `toml:"stop_timeout"`
	BootTimeout  string `toml:"boot_timeout"`
	DNSAddr      string `toml:"dns_addr"`

	// Backends holds the keys the VMM backends own (the VMM binary, ...),
	// top-level in the file like the rest; see vmm.Backend.Settings.
	Backends vmm.Settings `toml:"-"`

	VMDefaults VMDefaults `toml:"vm_defaults"`
	FileSync   []FileSync `toml:"file_sync"`

	// Resolved holds the effective VM defaults and where each came from.
	// Load fills it in; it is not read from the file.
	Resolved ResolvedVMDefaults `toml:"-"`
}

// VMDefaults is the [vm_defaults] table. Zero values mean "not set".
type VMDefaults struct {
	VCPU      int    `toml:"vcpu"`
	MemoryMiB int    `toml:"memory_mib"`
	DiskSize  string `toml:"disk_size"`
}

// FileSync is one [[file_sync]] entry: a host file copied into the guest.
type FileSync struct {
	Host  string `toml:"host"`
	Guest string `toml:"guest"` // must be under /root
	Mode  string `toml:"mode"`  // octal, e.g. "0600"; empty keeps the host mode
}

// Source says where a resolved value came from.
type Source string

// Value sources reported by doctor.
const (
	SourceConfig  Source = "config"
	SourceHost    Source = "host"
	SourceBuiltin Source = "builtin"
)

// Resolved is a value together with where it came from.
type Resolved[T any] struct {
	Value  T
	Source Source
}

// ResolvedVMDefaults are the effective defaults for new VMs.
type ResolvedVMDefaults struct {
	VCPUs     Resolved[int]
	MemoryMiB Resolved[int]
	DiskBytes Resolved[int64]
}

// Load finds, reads and validates the configuration for the current user
// and machine, with the backends of reg. See LoadHost for the lookup order.
func Load(explicitPath string, env func(string) string, reg *vmm.Registry) (*Config, string, error) {
	return LoadHost(explicitPath, SystemHost(env), reg)
}

// LoadHost is Load with the host facts supplied by the caller. The file is
// chosen in this order: explicitPath (the --config flag), $BANGER_CONFIG,
// /etc/banger/config.toml when EUID is 0, otherwise
// $XDG_CONFIG_HOME/banger/config.toml or ~/.config/banger/config.toml.
// A missing default file yields all defaults and an empty path; a missing
// explicitly chosen file is an error. The returned path is the file that
// was read. The keys of reg's backends are accepted beside banger's own.
func LoadHost(explicitPath string, h Host, reg *vmm.Registry) (*Config, string, error) {
	p, explicit, err := configPath(explicitPath, h)
	if err != nil {
		return nil, "", err
	}
	c := &Config{}
	used := ""
	if p != "" {
		data, err := os.ReadFile(p)
		switch {
		case err == nil:
			if err := c.decode(p, string(data), reg); err != nil {
				return nil, "", err
			}
			used = p
		case errors.Is(err, fs.ErrNotExist) && !explicit:
			// No config file: all defaults.
		default:
			return nil, "", fmt.Errorf("reading config: %w", err)
		}
	}
	if err := c.applyDefaults(h, reg); err != nil {
		return nil, used, err
	}
	if err := c.Validate(reg); err != nil {
		if used != "" {
			return nil, used, fmt.Errorf("invalid config %s:\n%w", used, err)
		}
		return nil, used, fmt.Errorf("invalid config:\n%w", err)
	}
	r, err := c.ResolveVMDefaults(h)
	if err != nil {
		return nil, used, err
	}
	c.Resolved = r
	return c, used, nil
}

// configPath returns the file to read and whether the user chose it.
func configPath(explicitPath string, h Host) (string, bool, error) {
	if explicitPath != "" {
		return explicitPath, true, nil
	}
	if p := h.getenv(EnvConfig); p != "" {
		return p, true, nil
	}
	if h.EUID == 0 {
		return SystemConfigPath, false, nil
	}
	if x := h.getenv("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "banger", "config.toml"), false, nil
	}
	if h.Home == "" {
		// No default location; run with defaults.
		return "", false, nil
	}
	return filepath.Join(h.Home, ".config", "banger", "config.toml"), false, nil
}

func (c *Config) decode(p, data string, reg *vmm.Registry) error {
	md, err := toml.Decode(data, c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("parsing config %s: %s", p, pe.ErrorWithPosition())
		}
		return fmt.Errorf("parsing config %s: %w", p, err)
	}
	und, err := c.decodeBackendKeys(p, data, md.Undecoded(), reg)
	if err != nil {
		return err
	}
	if len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = strconv.Quote(k.String())
		}
		return fmt.Errorf("config %s: unknown key %s; see docs/config.md for the keys banger accepts",
			p, strings.Join(keys, ", "))
	}
	// Explicit zeros are mistakes, not "unset".
	if md.IsDefined("vm_defaults", "vcpu") && c.VMDefaults.VCPU <= 0 {
		return fmt.Errorf("config %s: vm_defaults.vcpu must be at least 1, e.g. vcpu = 2", p)
	}
	if md.IsDefined("vm_defaults", "memory_mib") && c.VMDefaults.MemoryMiB <= 0 {
		return fmt.Errorf("config %s: vm_defaults.memory_mib must be positive, e.g. memory_mib = 2048", p)
	}
	return nil
}

// Defaults returns a Config with every default applied for host h and the
// backends of reg.
func Defaults(h Host, reg *vmm.Registry) (*Config, error) {
	c := &Config{}
	if err := c.applyDefaults(h, reg); err != nil {
		return nil, err
	}
	r, err := c.ResolveVMDefaults(h)
	if err != nil {
		return nil, err
	}
	c.Resolved = r
	return c, nil
}

func (c *Config) applyDefaults(h Host, reg *vmm.Registry) error {
	if c.StateDir == "" {
		if h.EUID == 0 {
			c.StateDir = "/var/lib/banger"
		} else if x := h.getenv("XDG_DATA_HOME"); filepath.IsAbs(x) {
			c.StateDir = filepath.Join(x, "banger")
		} else if h.Home != "" {
			c.StateDir = filepath.Join(h.Home, ".local", "share", "banger")
		} else {
			return errors.New(`cannot choose a default state_dir: HOME is not set; set state_dir = "/some/absolute/path" in the config`)
		}
	}
	if c.RuntimeDir == "" {
		if h.EUID == 0 {
			c.RuntimeDir = "/run/banger"
		} else if x := h.getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(x) {
			c.RuntimeDir = filepath.Join(x, "banger")
		} else {
			c.RuntimeDir = fmt.Sprintf("/tmp/banger-%d", h.EUID)
		}
	}
	setDefault(&c.LogLevel, DefaultLogLevel)
	setDefault(&c.VMM, DefaultVMM)
	setDefault(&c.BridgeName, DefaultBridgeName)
	setDefault(&c.CIDR, DefaultCIDR)
	setDefault(&c.DefaultImage, DefaultImage)
	setDefault(&c.DebianMirror, DefaultDebianMirror)
	setDefault(&c.StopTimeout, DefaultStopTimeout)
	setDefault(&c.BootTimeout, DefaultBootTimeout)
	setDefault(&c.DNSAddr, DefaultDNSAddr)
	setDefault(&c.SSHKeyPath, filepath.Join(c.StateDir, "ssh", "id_ed25519"))
	c.applyBackendDefaults(reg)
	return nil
}

func setDefault(field *string, v string) {
	if *field == "" {
		*field = v
	}
}

// ResolveVMDefaults works out the defaults for new VMs: values from the
// config first, then values derived from the host (vcpu = CPUs/4 clamped
// to [1,4]; memory = RAM/8 clamped to [512,8192] MiB), then built-in
// constants.
func (c *Config) ResolveVMDefaults(h Host) (ResolvedVMDefaults, error) {
	var r ResolvedVMDefaults
	switch {
	case c.VMDefaults.VCPU > 0:
		r.VCPUs = Resolved[int]{c.VMDefaults.VCPU, SourceConfig}
	case h.CPUs > 0:
		r.VCPUs = Resolved[int]{clamp(h.CPUs/4, 1, 4), SourceHost}
	default:
		r.VCPUs = Resolved[int]{DefaultVCPUs, SourceBuiltin}
	}
	switch {
	case c.VMDefaults.MemoryMiB > 0:
		r.MemoryMiB = Resolved[int]{c.VMDefaults.MemoryMiB, SourceConfig}
	case h.MemoryBytes > 0:
		r.MemoryMiB = Resolved[int]{clamp(int(h.MemoryBytes/8>>20), 512, 8192), SourceHost}
	default:
		r.MemoryMiB = Resolved[int]{DefaultMemoryMiB, SourceBuiltin}
	}
	if c.VMDefaults.DiskSize != "" {
		n, err := ParseSize(c.VMDefaults.DiskSize)
		if err != nil {
			return r, fmt.Errorf("vm_defaults.disk_size: %w", err)
		}
		r.DiskBytes = Resolved[int64]{n, SourceConfig}
	} else {
		n, err := ParseSize(DefaultDiskSize)
		if err != nil {
			return r, err
		}
		r.DiskBytes = Resolved[int64]{n, SourceBuiltin}
	}
	return r, nil
}

func clamp(v, lo, hi int) int {
	return min(max(v, lo), hi)
}

// StopTimeoutDuration returns stop_timeout parsed (the default if unset).
func (c *Config) StopTimeoutDuration() (time.Duration, error) {
	return duration("stop_timeout", c.StopTimeout, DefaultStopTimeout)
}

// BootTimeoutDuration returns boot_timeout parsed (the default if unset).
func (c *Config) BootTimeoutDuration() (time.Duration, error) {
	return duration("boot_timeout", c.BootTimeout, DefaultBootTimeout)
}

func duration(key, s, def string) (time.Duration, error) {
	if s == "" {
		s = def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf(`%s %q: use a positive duration, e.g. %s = %q`, key, s, key, def)
	}
	return d, nil
}

var (
	imageNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,62}$`)
	ifNameRE    = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)
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
	return p
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func (c *Config) validateSources() problems {
	var p problems
	if !imageNameRE.MatchString(c.DefaultImage) {
		p.add("default_image %q is not a valid image name: use lowercase letters, digits, '.' and '-', starting with a letter or digit (max 63), e.g. default_image = %q",
			c.DefaultImage, DefaultImage)
	}
	if !httpURL(c.DebianMirror) {
		p.add("debian_mirror %q is not an http(s) URL: e.g. debian_mirror = %q", c.DebianMirror, DefaultDebianMirror)
	}
	if c.CatalogURL != "" && !httpURL(c.CatalogURL) {
		p.add("catalog_url %q is not an http(s) URL: e.g. catalog_url = %q, or leave it out to use only the built-in catalog", c.CatalogURL, "https://example.org/banger/catalog.json")
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
		if _, err := ParseSize(d.DiskSize); err != nil {
			p.add("vm_defaults.disk_size: %w", err)
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
	return nil
}
