package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLifetimeKeys(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, filepath.Join(dir, "c.toml"), "auto_stop_stale_after = \"30m\"\nlifetime_check_interval = \"2s\"\n")
	c, _, err := LoadHost(p, userHost(t, nil), testRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := c.AutoStopDuration(); err != nil || d != 30*time.Minute {
		t.Errorf("AutoStopDuration = %s, %v; want 30m", d, err)
	}
	if d, err := c.LifetimeCheckDuration(); err != nil || d != 2*time.Second {
		t.Errorf("LifetimeCheckDuration = %s, %v; want 2s", d, err)
	}

	c, err = Defaults(Host{EUID: 0}, testRegistry(t))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := c.AutoStopDuration(); err != nil || d != 0 {
		t.Errorf("default auto_stop_stale_after = %s, %v; want off", d, err)
	}
	if d, err := c.LifetimeCheckDuration(); err != nil || d != 10*time.Second {
		t.Errorf("default lifetime_check_interval = %s, %v; want 10s", d, err)
	}
}

func TestLifetimeKeysValidated(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"auto stop not a duration", func(c *Config) { c.AutoStopStaleAfter = "later" }, `auto_stop_stale_after "later"`},
		{"auto stop too short", func(c *Config) { c.AutoStopStaleAfter = "10ms" }, `auto_stop_stale_after "10ms"`},
		{"interval too short", func(c *Config) { c.LifetimeCheckInterval = "100ms" }, `lifetime_check_interval "100ms": use 1s to 1h`},
		{"interval negative", func(c *Config) { c.LifetimeCheckInterval = "-1s" }, `lifetime_check_interval "-1s"`},
	} {
		c, err := Defaults(Host{EUID: 0}, testRegistry(t))
		if err != nil {
			t.Fatal(err)
		}
		tt.mutate(c)
		if err := c.Validate(testRegistry(t)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Validate() = %v, want %q", tt.name, err, tt.want)
		}
	}
	c, _ := Defaults(Host{EUID: 0}, testRegistry(t))
	c.AutoStopStaleAfter = "off"
	if err := c.Validate(testRegistry(t)); err != nil {
		t.Errorf("auto_stop_stale_after = \"off\" rejected: %v", err)
	}
}
