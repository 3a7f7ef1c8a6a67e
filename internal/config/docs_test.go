package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/vmm/builtin"
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
	reg := builtin.Registry()
	c, _, err := LoadHost(p, Host{EUID: 0}, reg)
	if err != nil {
		t.Fatalf("docs example does not load: %v", err)
	}
	if c.Resolved.DiskBytes.Value != 16<<30 || c.Resolved.RootBytes.Value != 8<<30 || len(c.FileSync) != 2 {
		t.Errorf("docs example read wrongly: %+v", c)
	}
	// Every key in Config must be documented.
	keys := []string{"state_dir", "runtime_dir", "log_level", "vmm", "bridge_name", "cidr", "nat_default", "default_image",
		"debian_mirror", "catalog_url", "ssh_key_path", "stop_timeout", "boot_timeout", "console_log_size", "dns_addr", "ui_addr", "auto_warm", "operations_keep",
		"vcpu", "memory_mib", "disk_size", "root_size", "[[file_sync]]", "host", "guest", "mode"}
	// And every key a built-in backend owns.
	for _, b := range reg.Backends() {
		for _, s := range b.Settings {
			keys = append(keys, s.Key)
		}
	}
	for _, key := range keys {
		if !strings.Contains(string(doc), "`"+key+"`") {
			t.Errorf("docs/config.md does not document `%s`", key)
		}
	}
}
