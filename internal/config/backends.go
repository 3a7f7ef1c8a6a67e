package config

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/BurntSushi/toml"

	"banger/internal/vmm"
)

// decodeBackendKeys takes the top-level keys the struct did not decode
// that a backend of reg declares, checks their type and keeps them in
// c.Backends. It returns the keys nobody owns.
func (c *Config) decodeBackendKeys(p, data string, und []toml.Key, reg *vmm.Registry) ([]toml.Key, error) {
	var raw map[string]any
	var unknown []toml.Key
	for _, k := range und {
		s, _, ok := reg.Setting(k.String())
		if len(k) != 1 || !ok {
			unknown = append(unknown, k)
			continue
		}
		if raw == nil {
			if _, err := toml.Decode(data, &raw); err != nil {
				return nil, fmt.Errorf("parsing config %s: %w", p, err)
			}
		}
		v := raw[s.Key]
		switch v.(type) {
		case bool:
			if !s.Bool {
				return nil, fmt.Errorf("config %s: %s must be a string, e.g. %s = %q", p, s.Key, s.Key, s.Default)
			}
		case string:
			if s.Bool {
				return nil, fmt.Errorf("config %s: %s must be true or false, e.g. %s = true", p, s.Key, s.Key)
			}
		default:
			if s.Bool {
				return nil, fmt.Errorf("config %s: %s must be true or false, e.g. %s = true", p, s.Key, s.Key)
			}
			return nil, fmt.Errorf("config %s: %s must be a string, e.g. %s = %q", p, s.Key, s.Key, s.Default)
		}
		if c.Backends == nil {
			c.Backends = vmm.Settings{}
		}
		c.Backends[s.Key] = v
	}
	return unknown, nil
}

// applyBackendDefaults gives every backend key the file left out (or set
// to "") its default.
func (c *Config) applyBackendDefaults(reg *vmm.Registry) {
	if c.Backends == nil {
		c.Backends = vmm.Settings{}
	}
	for k, v := range reg.Defaults() {
		if cur, ok := c.Backends[k]; !ok || cur == "" {
			c.Backends[k] = v
		}
	}
}

// ProbeKernel is the kernel (and initrd, "" if none) host probes boot: the
// default image's, once it has been built; "" before.
func (c *Config) ProbeKernel() (kernel, initrd string) {
	dir := filepath.Join(c.KernelsDir(), c.DefaultImage)
	kernel = filepath.Join(dir, "vmlinuz")
	if _, err := os.Stat(kernel); err != nil {
		return "", ""
	}
	initrd = filepath.Join(dir, "initrd.img")
	if _, err := os.Stat(initrd); err != nil {
		initrd = ""
	}
	return kernel, initrd
}

// VMMEnv is what the backends are built and checked with under this
// config, on the real host.
func (c *Config) VMMEnv(log *slog.Logger) vmm.Env {
	kernel, initrd := c.ProbeKernel()
	return vmm.Env{
		Settings: c.Backends, Log: log, StateDir: c.StateDir, CacheDir: c.CacheDir(),
		ProbeKernel: kernel, ProbeInitrd: initrd,
	}
}
