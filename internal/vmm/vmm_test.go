package vmm

import (
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	ok := Config{Kernel: "/k", Dir: "/run/vm", ConsoleLog: "/c.log", AgentSocket: "/run/vm/agent.sock", VCPUs: 1, MemoryMiB: 128}
	long := "/" + strings.Repeat("x", MaxSocketPath)
	tests := []struct {
		name    string
		edit    func(*Config)
		sockets []string
		want    string // "" for no error
	}{
		{"complete", func(*Config) {}, []string{"/run/vm/ctl.sock"}, ""},
		{"no kernel", func(c *Config) { c.Kernel = "" }, nil, "no kernel"},
		{"no dir", func(c *Config) { c.Dir = "" }, nil, "no runtime dir"},
		{"no console", func(c *Config) { c.ConsoleLog = "" }, nil, "no console log"},
		{"no agent socket", func(c *Config) { c.AgentSocket = "" }, nil, "no agent socket"},
		{"no vcpus", func(c *Config) { c.VCPUs = 0 }, nil, "vcpus 0"},
		{"no memory", func(c *Config) { c.MemoryMiB = -1 }, nil, "memory -1 MiB"},
		{"long agent socket", func(c *Config) { c.AgentSocket = long }, nil, "longer than the 107"},
		{"long backend socket", func(*Config) {}, []string{long}, "longer than the 107"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.edit(&c)
			err := c.Check(tt.sockets...)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
