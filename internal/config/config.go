// Package config loads and validates banger's TOML configuration file and
// supplies defaults derived from the user and host.
package config

import (
	"banger/internal/units"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
	DefaultDebianMirror = "https://deb.debian.org/debian"
	DefaultStopTimeout  = "30s"
	DefaultBootTimeout  = "5m"
	// DefaultConsoleLogSize caps a VM's console log (console.log; one
	// rotated console.log.1 of the same size is kept besides).
	DefaultConsoleLogSize = "8M"
	DefaultDNSAddr        = "127.0.0.1:5354"
	// DefaultUIAddr is where bangerd serves the web UI (banger ui).
	DefaultUIAddr = "127.0.0.1:7878"

	DefaultVCPUs     = 1
	DefaultMemoryMiB = 1024
	DefaultDiskSize  = "8G"
	DefaultRootSize  = "4G"

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
	// ConsoleLogSize caps each VM's serial console log.
	ConsoleLogSize string `toml:"console_log_size"`
	DNSAddr        string `toml:"dns_addr"`
	// UIAddr is the loopback address of the web UI; "off" disables it.
	UIAddr string `toml:"ui_addr"`
	// AutoWarm (default true) makes the snapshot of a cold-booted VM's
	// image and shape in the background, so the next one restores it.
	AutoWarm *bool `toml:"auto_warm"`
	// AutoStopStaleAfter stops a VM idle for that long ("30m"; default
	// off); LifetimeCheckInterval is how often the daemon looks (see
	// lifetime.go and docs/operations.md).
	AutoStopStaleAfter    string `toml:"auto_stop_stale_after"`
	LifetimeCheckInterval string `toml:"lifetime_check_interval"`
	// OperationsKeep is how long finished operation records are kept.
	OperationsKeep string `toml:"operations_keep"`

	// Backends holds the keys the VMM backends own (the VMM binary, ...),
	// top-level in the file like the rest; see vmm.Backend.Settings.
	Backends vmm.Settings `toml:"-"`

	VMDefaults VMDefaults `toml:"vm_defaults"`
	FileSync   []FileSync `toml:"file_sync"`

	// Resolved holds the effective VM defaults and where each came from.
	// Load fills it in; it is not read from the file.
	Resolved ResolvedVMDefaults `toml:"-"`
}

// WarmOnFirstUse is auto_warm with its default (true).
func (c *Config) WarmOnFirstUse() bool { return c.AutoWarm == nil || *c.AutoWarm }

// VMDefaults is the [vm_defaults] table. Zero values mean "not set".
type VMDefaults struct {
	VCPU      int    `toml:"vcpu"`
	MemoryMiB int    `toml:"memory_mib"`
	DiskSize  string `toml:"disk_size"`
	// RootSize is the room on / of a new VM: the free space its root
	// file system has at the first boot, at least.
	RootSize string `toml:"root_size"`
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

// Resolved is a value together with where it came from and why it is
// what it is (for doctor).
type Resolved[T any] struct {
	Value  T
	Source Source
	Why    string
}

// ResolvedVMDefaults are the effective defaults for new VMs.
type ResolvedVMDefaults struct {
	VCPUs     Resolved[int]
	MemoryMiB Resolved[int]
	DiskBytes Resolved[int64]
	// RootBytes is the room on / of a new VM (see VMDefaults.RootSize).
	RootBytes Resolved[int64]
	// HostCPUs is the host's core count the defaults were fitted to (0:
	// unknown).
	HostCPUs int
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

// parseErrorText is pe.ErrorWithPosition, or pe.Error when that panics:
// toml v1.6.0 indexes out of range on some input, e.g. a file holding
// just `"\` (found by FuzzLoad).
func parseErrorText(pe toml.ParseError) (s string) {
	defer func() {
		if recover() != nil {
			s = pe.Error()
		}
	}()
	return pe.ErrorWithPosition()
}

func (c *Config) decode(p, data string, reg *vmm.Registry) error {
	md, err := toml.Decode(data, c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return fmt.Errorf("parsing config %s: %s", p, parseErrorText(pe))
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
			// Not a shared directory such as /tmp: another user could
			// make it first and own the socket (see docs/security.md).
			c.RuntimeDir = filepath.Join(c.StateDir, "run")
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
	setDefault(&c.UIAddr, DefaultUIAddr)
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
// constants. Each says why it is what it is. Fit then fits the vCPUs to
// the backend new VMs run on.
func (c *Config) ResolveVMDefaults(h Host) (ResolvedVMDefaults, error) {
	r := ResolvedVMDefaults{VCPUs: c.resolveVCPUs(h), MemoryMiB: c.resolveMemory(h), HostCPUs: h.CPUs}
	var err error
	if r.DiskBytes, err = resolveSize("disk_size", c.VMDefaults.DiskSize, DefaultDiskSize); err != nil {
		return r, err
	}
	if r.RootBytes, err = resolveSize("root_size", c.VMDefaults.RootSize, DefaultRootSize); err != nil {
		return r, err
	}
	r.DiskBytes.Why += ": the work disk mounted at /root"
	r.RootBytes.Why += ": / of a new VM has at least this much free"
	return r, nil
}

func (c *Config) resolveVCPUs(h Host) Resolved[int] {
	switch {
	case c.VMDefaults.VCPU > 0:
		return Resolved[int]{c.VMDefaults.VCPU, SourceConfig, "set by [vm_defaults] vcpu"}
	case h.CPUs > 0:
		return Resolved[int]{clamp(h.CPUs/4, 1, 4), SourceHost, fmt.Sprintf("a quarter of the host's %d cores, between 1 and 4", h.CPUs)}
	default:
		return Resolved[int]{DefaultVCPUs, SourceBuiltin, "built in: the host's core count is unknown"}
	}
}

func (c *Config) resolveMemory(h Host) Resolved[int] {
	switch {
	case c.VMDefaults.MemoryMiB > 0:
		return Resolved[int]{c.VMDefaults.MemoryMiB, SourceConfig, "set by [vm_defaults] memory_mib"}
	case h.MemoryBytes > 0:
		return Resolved[int]{clamp(int(h.MemoryBytes/8>>20), 512, 8192), SourceHost,
			fmt.Sprintf("an eighth of the host's %.1f GiB of RAM, between 512 MiB and 8 GiB", float64(h.MemoryBytes)/(1<<30))}
	default:
		return Resolved[int]{DefaultMemoryMiB, SourceBuiltin, "built in: the host's RAM is unknown"}
	}
}

// resolveSize is the [vm_defaults] size key's value, else def.
func resolveSize(key, v, def string) (Resolved[int64], error) {
	if v != "" {
		n, err := units.ParseSize(v)
		if err != nil {
			return Resolved[int64]{}, fmt.Errorf("vm_defaults.%s: %w", key, err)
		}
		return Resolved[int64]{n, SourceConfig, "set by [vm_defaults] " + key}, nil
	}
	n, err := units.ParseSize(def)
	if err != nil {
		return Resolved[int64]{}, err
	}
	return Resolved[int64]{n, SourceBuiltin, "built in"}, nil
}

// Fit raises the vCPU default to the fewest a VM should have on the
// backend new VMs run on (h, e.g. two where guests run without hardware
// acceleration), no more than the host's cores, when the config leaves
// vcpu unset and the host has at least two cores.
func (r ResolvedVMDefaults) Fit(h vmm.Hints) ResolvedVMDefaults {
	if r.VCPUs.Source == SourceConfig || r.HostCPUs < 2 {
		return r
	}
	n := min(h.MinVCPUs, r.HostCPUs)
	if n <= r.VCPUs.Value {
		return r
	}
	r.VCPUs = Resolved[int]{n, SourceHost, fmt.Sprintf("%s; host has %d cores", h.Why, r.HostCPUs)}
	return r
}

func clamp(v, lo, hi int) int {
	return min(max(v, lo), hi)
}

// StopTimeoutDuration returns stop_timeout parsed (the default if unset).
func (c *Config) StopTimeoutDuration() (time.Duration, error) {
	return duration("stop_timeout", c.StopTimeout, DefaultStopTimeout)
}

// ConsoleLogBytes returns console_log_size parsed (the default if unset).
func (c *Config) ConsoleLogBytes() (int64, error) {
	s := c.ConsoleLogSize
	if s == "" {
		s = DefaultConsoleLogSize
	}
	n, err := units.ParseSize(s)
	if err != nil || n < 4096 {
		return 0, fmt.Errorf("console_log_size %q: use a size of at least 4K, e.g. console_log_size = %q", s, DefaultConsoleLogSize)
	}
	return n, nil
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
