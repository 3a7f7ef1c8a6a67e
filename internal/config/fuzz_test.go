package config

import (
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"banger/internal/network"
)

// FuzzLoad: a config file is banger's most exposed parser after the
// guest's. Whatever it holds, loading does not panic, and a config that
// loads is one the daemon can use as it is: absolute clean paths, a valid
// bridge name, a usable address pool, a loopback DNS address, positive VM defaults and timeouts,
// and a catalog that comes over HTTPS (or plain http from a loopback address).
func FuzzLoad(f *testing.F) {
	f.Add([]byte("bridge_name = \"br0\"\n[vm_defaults]\ndisk_size = \"20G\"\n"))
	f.Add([]byte("catalog_url = \"http://127.0.0.1:8080/catalog.json\"\n"))
	f.Add([]byte("catalog_url = \"http://images.example.org/catalog.json\"\n"))
	home := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "config.toml")
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		h := Host{Getenv: envMap(nil), EUID: 1000, Home: home, CPUs: 8, MemoryBytes: 16 << 30}
		c, _, err := LoadHost(p, h, testRegistry(t))
		if err != nil {
			return
		}
		for key, dir := range map[string]string{"state_dir": c.StateDir, "runtime_dir": c.RuntimeDir} {
			if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
				t.Fatalf("%s %q loaded, but it is no clean absolute path", key, dir)
			}
		}
		if err := network.ValidateIfName(c.BridgeName); err != nil {
			t.Fatalf("bridge_name %q loaded: %v", c.BridgeName, err)
		}
		if _, err := network.ParsePool(c.CIDR); err != nil {
			t.Fatalf("cidr %q loaded: %v", c.CIDR, err)
		}
		if ap, err := netip.ParseAddrPort(c.DNSAddr); c.DNSAddr != "off" && (err != nil || !ap.Addr().IsLoopback()) {
			t.Fatalf("dns_addr %q loaded", c.DNSAddr)
		}
		if c.CatalogURL != "" && !secureCatalogURL(c.CatalogURL) {
			t.Fatalf("catalog_url %q loaded, but it is neither https nor http to a loopback address", c.CatalogURL)
		}
		r := c.Resolved
		if r.VCPUs.Value <= 0 || r.MemoryMiB.Value <= 0 || r.DiskBytes.Value <= 0 {
			t.Fatalf("VM defaults %+v loaded", r)
		}
		if d, err := c.StopTimeoutDuration(); err != nil || d <= 0 {
			t.Fatalf("stop_timeout %q loaded: %v, %v", c.StopTimeout, d, err)
		}
		if d, err := c.BootTimeoutDuration(); err != nil || d <= 0 {
			t.Fatalf("boot timeout loaded: %v, %v", d, err)
		}
	})
}

// secureCatalogURL is the catalog rule, written apart from catalog.CheckURL.
func secureCatalogURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	a, err := netip.ParseAddr(u.Hostname())
	return u.Scheme == "https" || (u.Scheme == "http" && err == nil && a.IsLoopback())
}
