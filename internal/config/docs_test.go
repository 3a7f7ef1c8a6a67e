package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocsExampleLoads keeps the example in docs/config.md valid.
func TestDocsExampleLoads(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```toml\n")
	if !ok {
		t.Fatal("docs/config.md has no ```toml example")
	}
	example, _, _ := strings.Cut(rest, "```")
	p := writeFile(t, filepath.Join(t.TempDir(), "config.toml"), example)
	c, _, err := LoadHost(p, Host{EUID: 0})
	if err != nil {
		t.Fatalf("docs example does not load: %v", err)
	}
	if c.Resolved.DiskBytes.Value != 16<<30 || len(c.FileSync) != 2 {
		t.Errorf("docs example read wrongly: %+v", c)
	}
	// Every key in Config must be documented.
	for _, key := range []string{"state_dir", "runtime_dir", "log_level", "vmm", "accel", "qemu_bin",
		"firecracker_bin", "jailer_bin", "bridge_name", "cidr", "nat_default", "default_image",
		"debian_mirror", "catalog_url", "ssh_key_path", "stop_timeout", "boot_timeout", "dns_addr",
		"jailer_enabled", "jailer_chroot_base", "vcpu", "memory_mib", "disk_size",
		"[[file_sync]]", "host", "guest", "mode"} {
		if !strings.Contains(string(doc), "`"+key+"`") {
			t.Errorf("docs/config.md does not document `%s`", key)
		}
	}
}
