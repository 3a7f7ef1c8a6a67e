package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/vmm"
)

// testRegistry has two made-up backends: alpha owns alpha_bin and
// alpha_mode, beta owns the bool beta_enabled.
func testRegistry(t *testing.T) *vmm.Registry {
	t.Helper()
	r, err := vmm.NewRegistry(
		vmm.Backend{Name: "alpha", Rank: 1,
			Settings: []vmm.Setting{{Key: "alpha_bin", Default: "alpha-vmm"}, {Key: "alpha_mode", Default: "auto"}},
			Validate: func(s vmm.Settings) []error {
				var errs []error
				if m := s.String("alpha_mode"); m != "auto" && m != "fast" {
					errs = append(errs, fmt.Errorf("alpha_mode %q is not valid: use auto or fast", m))
				}
				if err := vmm.CheckProgram("alpha_bin", s.String("alpha_bin")); err != nil {
					errs = append(errs, err)
				}
				return errs
			},
			New: func(vmm.Env) (vmm.VMM, error) { return nil, errors.New("not for running") }},
		vmm.Backend{Name: "beta", Rank: 2, Settings: []vmm.Setting{{Key: "beta_enabled", Bool: true}},
			New: func(vmm.Env) (vmm.VMM, error) { return nil, errors.New("not for running") }},
	)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func userHost(t *testing.T, env map[string]string) Host {
	t.Helper()
	return Host{Getenv: envMap(env), EUID: 1000, Home: t.TempDir(), CPUs: 8, MemoryBytes: 16 << 30}
}

func writeFile(t *testing.T, p, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLocationPrecedence(t *testing.T) {
	dir := t.TempDir()
	flagFile := writeFile(t, filepath.Join(dir, "flag.toml"), `log_level = "debug"`)
	envFile := writeFile(t, filepath.Join(dir, "env.toml"), `log_level = "warn"`)
	xdg := filepath.Join(dir, "xdg")
	xdgFile := writeFile(t, filepath.Join(xdg, "banger", "config.toml"), `log_level = "error"`)
	home := filepath.Join(dir, "home")
	homeFile := writeFile(t, filepath.Join(home, ".config", "banger", "config.toml"), `vmm = "alpha"`)

	tests := []struct {
		name     string
		explicit string
		env      map[string]string
		euid     int
		wantPath string
		wantErr  string
	}{
		{"flag beats env", flagFile, map[string]string{"BANGER_CONFIG": envFile, "XDG_CONFIG_HOME": xdg}, 1000, flagFile, ""},
		{"env beats xdg", "", map[string]string{"BANGER_CONFIG": envFile, "XDG_CONFIG_HOME": xdg}, 1000, envFile, ""},
		{"env beats root default", "", map[string]string{"BANGER_CONFIG": envFile}, 0, envFile, ""},
		{"xdg", "", map[string]string{"XDG_CONFIG_HOME": xdg}, 1000, xdgFile, ""},
		{"relative xdg ignored", "", map[string]string{"XDG_CONFIG_HOME": "rel"}, 1000, homeFile, ""},
		{"home fallback", "", nil, 1000, homeFile, ""},
		{"missing xdg default is fine", "", map[string]string{"XDG_CONFIG_HOME": filepath.Join(dir, "nope")}, 1000, "", ""},
		{"missing flag file is an error", filepath.Join(dir, "missing.toml"), nil, 1000, "", "missing.toml"},
		{"missing env file is an error", "", map[string]string{"BANGER_CONFIG": filepath.Join(dir, "gone.toml")}, 1000, "", "gone.toml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Host{Getenv: envMap(tt.env), EUID: tt.euid, Home: home}
			_, used, err := LoadHost(tt.explicit, h, testRegistry(t))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadHost: %v", err)
			}
			if used != tt.wantPath {
				t.Errorf("path = %q, want %q", used, tt.wantPath)
			}
		})
	}
}

func TestRootUsesSystemConfigPath(t *testing.T) {
	p, explicit, err := configPath("", Host{EUID: 0, Home: "/root", Getenv: envMap(map[string]string{"XDG_CONFIG_HOME": "/x"})})
	if err != nil || p != SystemConfigPath || explicit {
		t.Errorf("configPath as root = %q, %v, %v; want %q, false", p, explicit, err, SystemConfigPath)
	}
}

func TestLoadReadsValues(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "c.toml"), `
state_dir = "/srv/banger"
runtime_dir = "/run/b"
log_level = "debug"
vmm = "beta"
alpha_mode = "fast"
beta_enabled = true
bridge_name = "br0"
cidr = "10.9.0.0/16"
nat_default = true
default_image = "ubuntu-24.04"
stop_timeout = "1m"

[vm_defaults]
vcpu = 3
memory_mib = 3000
disk_size = "20G"

[[file_sync]]
host = "~/.gitconfig"
guest = "/root/.gitconfig"
mode = "0644"

[[file_sync]]
host = "/etc/hosts"
guest = "/root/hosts"
`)
	c, used, err := LoadHost(p, userHost(t, nil), testRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	if used != p {
		t.Errorf("used = %q", used)
	}
	if c.StateDir != "/srv/banger" || c.VMM != "beta" || c.Backends.String("alpha_mode") != "fast" || !c.NATDefault || c.CIDR != "10.9.0.0/16" {
		t.Errorf("values not read: %+v", c)
	}
	if c.SSHKeyPath != "/srv/banger/ssh/id_ed25519" {
		t.Errorf("ssh_key_path default = %q, want under state_dir", c.SSHKeyPath)
	}
	if d, err := c.StopTimeoutDuration(); err != nil || d.Minutes() != 1 {
		t.Errorf("StopTimeoutDuration = %v, %v", d, err)
	}
	if len(c.FileSync) != 2 || c.FileSync[0] != (FileSync{"~/.gitconfig", "/root/.gitconfig", "0644"}) || c.FileSync[1].Guest != "/root/hosts" {
		t.Errorf("file_sync = %+v", c.FileSync)
	}
	want := ResolvedVMDefaults{
		VCPUs:     Resolved[int]{3, SourceConfig, ""},
		MemoryMiB: Resolved[int]{3000, SourceConfig, ""},
		DiskBytes: Resolved[int64]{20 << 30, SourceConfig, ""},
		RootBytes: Resolved[int64]{4 << 30, SourceBuiltin, ""},
	}
	if plain(c.Resolved) != want {
		t.Errorf("Resolved = %+v, want %+v", c.Resolved, want)
	}
}

func TestUnknownKey(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		content string
		key     string
	}{
		{`stat_dir = "/x"`, `"stat_dir"`},
		{"[vm_defaults]\nvcpus = 2", `"vm_defaults.vcpus"`},
		{"[[file_sync]]\nhost = \"a\"\nguest = \"/root/a\"\nowner = \"me\"", `"file_sync.owner"`},
	}
	for i, tt := range tests {
		p := writeFile(t, filepath.Join(dir, "c"+string(rune('0'+i))+".toml"), tt.content)
		_, _, err := LoadHost(p, userHost(t, nil), testRegistry(t))
		if err == nil || !strings.Contains(err.Error(), "unknown key") || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("content %q: err = %v, want unknown key %s", tt.content, err, tt.key)
		}
	}
}

func TestSyntaxErrorNamesFile(t *testing.T) {
	p := writeFile(t, filepath.Join(t.TempDir(), "c.toml"), "log_level = \n")
	_, _, err := LoadHost(p, userHost(t, nil), testRegistry(t))
	if err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("err = %v, want parse error naming %s", err, p)
	}
}

func TestExplicitZeroVMDefaultsRejected(t *testing.T) {
	p := writeFile(t, filepath.Join(t.TempDir(), "c.toml"), "[vm_defaults]\nvcpu = 0\n")
	_, _, err := LoadHost(p, userHost(t, nil), testRegistry(t))
	if err == nil || !strings.Contains(err.Error(), "vm_defaults.vcpu must be at least 1") {
		t.Errorf("err = %v", err)
	}
}

func TestDefaultsRootVsUser(t *testing.T) {
	tests := []struct {
		name        string
		h           Host
		wantState   string
		wantRuntime string
	}{
		{"root", Host{EUID: 0, Home: "/root", Getenv: envMap(map[string]string{"XDG_DATA_HOME": "/ignored", "XDG_RUNTIME_DIR": "/ignored"})},
			"/var/lib/banger", "/run/banger"},
		{"user xdg", Host{EUID: 1000, Home: "/home/u", Getenv: envMap(map[string]string{"XDG_DATA_HOME": "/data", "XDG_RUNTIME_DIR": "/run/user/1000"})},
			"/data/banger", "/run/user/1000/banger"},
		{"user no xdg", Host{EUID: 1000, Home: "/home/u"},
			"/home/u/.local/share/banger", "/home/u/.local/share/banger/run"},
		{"user relative xdg ignored", Host{EUID: 1001, Home: "/home/u", Getenv: envMap(map[string]string{"XDG_DATA_HOME": "data", "XDG_RUNTIME_DIR": "run"})},
			"/home/u/.local/share/banger", "/home/u/.local/share/banger/run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Defaults(tt.h, testRegistry(t))
			if err != nil {
				t.Fatal(err)
			}
			if c.StateDir != tt.wantState || c.RuntimeDir != tt.wantRuntime {
				t.Errorf("state/runtime = %q, %q; want %q, %q", c.StateDir, c.RuntimeDir, tt.wantState, tt.wantRuntime)
			}
			if c.SSHKeyPath != filepath.Join(tt.wantState, "ssh", "id_ed25519") {
				t.Errorf("ssh_key_path = %q", c.SSHKeyPath)
			}
			if err := c.Validate(testRegistry(t)); err != nil {
				t.Errorf("defaults do not validate: %v", err)
			}
			if c.LogLevel != "info" || c.VMM != "auto" || c.Backends.String("alpha_mode") != "auto" || c.BridgeName != "br-banger" ||
				c.CIDR != "172.30.0.0/24" || c.NATDefault || c.DefaultImage != "debian-bookworm" ||
				c.DebianMirror != "https://deb.debian.org/debian" || c.StopTimeout != "30s" ||
				c.Backends.String("alpha_bin") != "alpha-vmm" {
				t.Errorf("built-in defaults wrong: %+v", c)
			}
		})
	}
	if _, err := Defaults(Host{EUID: 1000}, testRegistry(t)); err == nil || !strings.Contains(err.Error(), "state_dir") {
		t.Errorf("no HOME: err = %v, want error telling to set state_dir", err)
	}
}

func TestPaths(t *testing.T) {
	c := &Config{StateDir: "/s", RuntimeDir: "/r"}
	for got, want := range map[string]string{
		c.DBPath():           "/s/banger.db",
		c.LogPath():          "/s/bangerd.log",
		c.SocketPath():       "/r/bangerd.sock",
		c.ImagesDir():        "/s/images",
		c.KernelsDir():       "/s/kernels",
		c.VMsDir():           "/s/vms",
		c.CacheDir():         "/s/cache",
		c.VMRuntimeDir("ab"): "/r/vms/ab",
		c.KnownHostsPath():   "/s/ssh/known_hosts",
	} {
		if got != want {
			t.Errorf("path = %q, want %q", got, want)
		}
	}
}

func TestResolveVMDefaults(t *testing.T) {
	tests := []struct {
		name string
		vd   VMDefaults
		h    Host
		want ResolvedVMDefaults
	}{
		{"host derived", VMDefaults{}, Host{CPUs: 8, MemoryBytes: 16 << 30}, ResolvedVMDefaults{
			Resolved[int]{2, SourceHost, ""}, Resolved[int]{2048, SourceHost, ""}, Resolved[int64]{8 << 30, SourceBuiltin, ""}, Resolved[int64]{4 << 30, SourceBuiltin, ""}, 0}},
		{"small host clamps up", VMDefaults{}, Host{CPUs: 2, MemoryBytes: 2 << 30}, ResolvedVMDefaults{
			Resolved[int]{1, SourceHost, ""}, Resolved[int]{512, SourceHost, ""}, Resolved[int64]{8 << 30, SourceBuiltin, ""}, Resolved[int64]{4 << 30, SourceBuiltin, ""}, 0}},
		{"big host clamps down", VMDefaults{}, Host{CPUs: 64, MemoryBytes: 256 << 30}, ResolvedVMDefaults{
			Resolved[int]{4, SourceHost, ""}, Resolved[int]{8192, SourceHost, ""}, Resolved[int64]{8 << 30, SourceBuiltin, ""}, Resolved[int64]{4 << 30, SourceBuiltin, ""}, 0}},
		{"unknown host", VMDefaults{}, Host{}, ResolvedVMDefaults{
			Resolved[int]{DefaultVCPUs, SourceBuiltin, ""}, Resolved[int]{DefaultMemoryMiB, SourceBuiltin, ""}, Resolved[int64]{8 << 30, SourceBuiltin, ""}, Resolved[int64]{4 << 30, SourceBuiltin, ""}, 0}},
		{"config wins", VMDefaults{VCPU: 6, MemoryMiB: 700, DiskSize: "512M"}, Host{CPUs: 8, MemoryBytes: 16 << 30}, ResolvedVMDefaults{
			Resolved[int]{6, SourceConfig, ""}, Resolved[int]{700, SourceConfig, ""}, Resolved[int64]{512 << 20, SourceConfig, ""}, Resolved[int64]{4 << 30, SourceBuiltin, ""}, 0}},
		{"mixed", VMDefaults{MemoryMiB: 4096}, Host{CPUs: 16}, ResolvedVMDefaults{
			Resolved[int]{4, SourceHost, ""}, Resolved[int]{4096, SourceConfig, ""}, Resolved[int64]{8 << 30, SourceBuiltin, ""}, Resolved[int64]{4 << 30, SourceBuiltin, ""}, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{VMDefaults: tt.vd}
			got, err := c.ResolveVMDefaults(tt.h)
			if err != nil || plain(got) != tt.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"relative state_dir", func(c *Config) { c.StateDir = "var/lib/banger" }, `state_dir "var/lib/banger" is not absolute`},
		{"unclean runtime_dir", func(c *Config) { c.RuntimeDir = "/run//banger/" }, `write it as runtime_dir = "/run/banger"`},
		{"empty state_dir", func(c *Config) { c.StateDir = "" }, `state_dir is empty`},
		{"log level", func(c *Config) { c.LogLevel = "verbose" }, `log_level "verbose" is not valid: use one of debug, info, warn, error`},
		{"vmm", func(c *Config) { c.VMM = "kvmtool" }, `vmm "kvmtool" is not valid: use one of auto, alpha, beta`},
		{"backend key", func(c *Config) { c.Backends["alpha_mode"] = "hvf" }, `alpha_mode "hvf" is not valid`},
		{"long bridge", func(c *Config) { c.BridgeName = "br-banger-too-long" }, `bridge_name "br-banger-too-long" is not a valid interface name`},
		{"bridge with slash", func(c *Config) { c.BridgeName = "br/0" }, `bridge_name "br/0"`},
		{"bridge empty", func(c *Config) { c.BridgeName = "" }, `bridge_name ""`},
		{"cidr garbage", func(c *Config) { c.CIDR = "banana" }, `cidr "banana" is not an IPv4 CIDR`},
		{"cidr v6", func(c *Config) { c.CIDR = "fd00::/64" }, `cidr "fd00::/64" is not an IPv4 CIDR`},
		{"cidr host bits", func(c *Config) { c.CIDR = "172.30.0.1/24" }, `cidr = "172.30.0.0/24"`},
		{"cidr tiny", func(c *Config) { c.CIDR = "10.0.0.0/31" }, `too small`},
		{"cidr too wide", func(c *Config) { c.CIDR = "10.0.0.0/8" }, `prefix length /8 is out of range`},
		{"cidr odd prefix", func(c *Config) { c.CIDR = "0.0.0.0/00" }, `want an IPv4 network`},
		{"image name", func(c *Config) { c.DefaultImage = "Debian_Bookworm" }, `default_image "Debian_Bookworm" is not a valid image name`},
		{"image name leading dash", func(c *Config) { c.DefaultImage = "-x" }, `default_image "-x"`},
		{"mirror", func(c *Config) { c.DebianMirror = "deb.debian.org" }, `debian_mirror "deb.debian.org" is not an http(s) URL`},
		{"catalog url", func(c *Config) { c.CatalogURL = "file:///srv/catalog.json" }, `catalog_url: catalog URL "file:///srv/catalog.json" is not an absolute https:// URL`},
		{"catalog url http", func(c *Config) { c.CatalogURL = "http://images.example.org/catalog.json" }, `catalog_url: catalog URL "http://images.example.org/catalog.json" must use https://`},
		{"catalog url http localhost", func(c *Config) { c.CatalogURL = "http://localhost:8080/catalog.json" }, `must use https://`},
		{"stop timeout", func(c *Config) { c.StopTimeout = "30" }, `stop_timeout "30": use a positive duration`},
		{"stop timeout negative", func(c *Config) { c.StopTimeout = "-5s" }, `stop_timeout "-5s"`},
		{"operations keep", func(c *Config) { c.OperationsKeep = "a day" }, `operations_keep "a day"`},
		{"console log size too small", func(c *Config) { c.ConsoleLogSize = "1K" }, `console_log_size "1K": use a size of at least 4K`},
		{"console log size bad", func(c *Config) { c.ConsoleLogSize = "lots" }, `console_log_size "lots"`},
		{"disk size", func(c *Config) { c.VMDefaults.DiskSize = "lots" }, `vm_defaults.disk_size: bad size "lots": use a number with a unit`},
		{"root size", func(c *Config) { c.VMDefaults.RootSize = "0" }, `vm_defaults.root_size: `},
		{"negative vcpu", func(c *Config) { c.VMDefaults.VCPU = -1 }, `vm_defaults.vcpu -1 is negative`},
		{"tiny memory", func(c *Config) { c.VMDefaults.MemoryMiB = 16 }, `vm_defaults.memory_mib 16 is too small`},
		{"ssh key relative", func(c *Config) { c.SSHKeyPath = "id_ed25519" }, `ssh_key_path "id_ed25519" is not absolute`},
		{"backend program empty", func(c *Config) { c.Backends["alpha_bin"] = " " }, `alpha_bin is empty`},
		{"file_sync outside root", func(c *Config) { c.FileSync = []FileSync{{Host: "a", Guest: "/etc/passwd"}} }, `file_sync[0]: guest "/etc/passwd" is outside /root`},
		{"file_sync root prefix trick", func(c *Config) { c.FileSync = []FileSync{{Host: "a", Guest: "/rootkit"}} }, `outside /root`},
		{"file_sync dotdot", func(c *Config) { c.FileSync = []FileSync{{Host: "a", Guest: "/root/../etc/x"}} }, `must be a clean absolute path under /root`},
		{"file_sync relative", func(c *Config) { c.FileSync = []FileSync{{Host: "a", Guest: ".bashrc"}} }, `must be a clean absolute path`},
		{"file_sync no host", func(c *Config) { c.FileSync = []FileSync{{Guest: "/root/a"}} }, `file_sync[0]: host is empty`},
		{"file_sync mode", func(c *Config) { c.FileSync = []FileSync{{Host: "a", Guest: "/root/a", Mode: "rw"}} }, `mode "rw" is not an octal permission`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Defaults(Host{EUID: 0}, testRegistry(t))
			if err != nil {
				t.Fatal(err)
			}
			tt.mutate(c)
			err = c.Validate(testRegistry(t))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want error containing %q", err, tt.want)
			}
		})
	}

	c, _ := Defaults(Host{EUID: 0}, testRegistry(t))
	c.FileSync = []FileSync{{Host: "a", Guest: "/root/.config/x", Mode: "0600"}}
	c.DefaultImage = "ubuntu-24.04"
	if err := c.Validate(testRegistry(t)); err != nil {
		t.Errorf("valid config rejected: %v", err)
	}
}

func TestValidateReportsAllProblems(t *testing.T) {
	c, _ := Defaults(Host{EUID: 0}, testRegistry(t))
	c.VMM, c.Backends["alpha_mode"] = "x", "y"
	err := c.Validate(testRegistry(t))
	if err == nil || !strings.Contains(err.Error(), "vmm") || !strings.Contains(err.Error(), "alpha_mode") {
		t.Errorf("Validate() = %v, want both vmm and alpha_mode reported", err)
	}
}

func TestLoadInvalidNamesFile(t *testing.T) {
	p := writeFile(t, filepath.Join(t.TempDir(), "c.toml"), `vmm = "xen"`)
	_, _, err := LoadHost(p, userHost(t, nil), testRegistry(t))
	if err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), `vmm "xen"`) {
		t.Errorf("err = %v", err)
	}
}

func TestLoadUsesRealHost(t *testing.T) {
	p := writeFile(t, filepath.Join(t.TempDir(), "c.toml"), `state_dir = "/tmp/x"`+"\n"+`runtime_dir = "/tmp/y"`)
	c, used, err := Load(p, func(string) string { return "" }, testRegistry(t))
	if err != nil || used != p || c.StateDir != "/tmp/x" {
		t.Fatalf("Load = %+v, %q, %v", c, used, err)
	}
	if c.Resolved.VCPUs.Value < 1 || c.Resolved.MemoryMiB.Value < 512 {
		t.Errorf("Resolved = %+v", c.Resolved)
	}
}

func TestBackendKeys(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "ok.toml"), "alpha_bin = \"/opt/alpha\"\nbeta_enabled = false\n")
	c, _, err := LoadHost(p, userHost(t, nil), testRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.Backends.String("alpha_bin") != "/opt/alpha" || c.Backends.String("alpha_mode") != "auto" {
		t.Errorf("backend settings = %v", c.Backends)
	}
	if v, set := c.Backends.Bool("beta_enabled"); !set || v {
		t.Errorf("beta_enabled = %v (set %v), want false and set", v, set)
	}
	tests := []struct{ content, want string }{
		{"alpha_bin = 3", "alpha_bin must be a string"},
		{"beta_enabled = \"yes\"", "beta_enabled must be true or false"},
		{"[alpha_bin]\nx = 1", "alpha_bin must be a string"},
		{"gamma_bin = \"x\"", `unknown key "gamma_bin"`},
	}
	for i, tt := range tests {
		p := writeFile(t, filepath.Join(dir, fmt.Sprintf("bad%d.toml", i)), tt.content)
		if _, _, err := LoadHost(p, userHost(t, nil), testRegistry(t)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want %q", tt.content, err, tt.want)
		}
	}
	// Without a registry nobody owns the keys.
	if _, _, err := LoadHost(p, userHost(t, nil), nil); err == nil || !strings.Contains(err.Error(), `unknown key "alpha_bin"`) {
		t.Errorf("no registry: err = %v", err)
	}
}

// plain is r without the reasons and the host's core count.
func plain(r ResolvedVMDefaults) ResolvedVMDefaults {
	r.VCPUs.Why, r.MemoryMiB.Why, r.DiskBytes.Why, r.RootBytes.Why, r.HostCPUs = "", "", "", "", 0
	return r
}

func TestResolveVMDefaultsSayWhy(t *testing.T) {
	c := &Config{VMDefaults: VMDefaults{DiskSize: "16G", RootSize: "6G"}}
	r, err := c.ResolveVMDefaults(Host{CPUs: 8, MemoryBytes: 16 << 30})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct{ got, want string }{
		{r.VCPUs.Why, "a quarter of the host's 8 cores"},
		{r.MemoryMiB.Why, "an eighth of the host's 16.0 GiB of RAM"},
		{r.DiskBytes.Why, "set by [vm_defaults] disk_size: the work disk mounted at /root"},
		{r.RootBytes.Why, "set by [vm_defaults] root_size: / of a new VM has at least this much free"},
	} {
		if !strings.Contains(w.got, w.want) {
			t.Errorf("reason %q, want it to say %q", w.got, w.want)
		}
	}
	if r.RootBytes.Value != 6<<30 || r.HostCPUs != 8 {
		t.Errorf("root %d, host cpus %d", r.RootBytes.Value, r.HostCPUs)
	}
	if _, err := (&Config{VMDefaults: VMDefaults{RootSize: "lots"}}).ResolveVMDefaults(Host{}); err == nil {
		t.Error("root_size \"lots\" was accepted")
	}
}

func TestFitRaisesVCPUsForTheBackend(t *testing.T) {
	tcg := vmm.Hints{MinVCPUs: 2, Why: "TCG: a second vCPU halves the boot"}
	for _, c := range []struct {
		name  string
		vd    VMDefaults
		cpus  int
		hints vmm.Hints
		want  int
		why   string
	}{
		{"tcg on 2 cores", VMDefaults{}, 2, tcg, 2, "TCG: a second vCPU halves the boot; host has 2 cores"},
		{"tcg on 1 core", VMDefaults{}, 1, tcg, 1, "a quarter of the host's 1 cores"},
		{"config wins", VMDefaults{VCPU: 1}, 8, tcg, 1, "set by [vm_defaults] vcpu"},
		{"already more", VMDefaults{}, 16, tcg, 4, "a quarter"},
		{"no wish", VMDefaults{}, 2, vmm.Hints{}, 1, "a quarter"},
		{"no more than the cores", VMDefaults{}, 2, vmm.Hints{MinVCPUs: 8, Why: "x"}, 2, "x; host has 2 cores"},
	} {
		r, err := (&Config{VMDefaults: c.vd}).ResolveVMDefaults(Host{CPUs: c.cpus})
		if err != nil {
			t.Fatal(err)
		}
		got := r.Fit(c.hints).VCPUs
		if got.Value != c.want || !strings.Contains(got.Why, c.why) {
			t.Errorf("%s: vcpus %d (%s), want %d (%s)", c.name, got.Value, got.Why, c.want, c.why)
		}
	}
}
