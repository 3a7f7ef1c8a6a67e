package config

import "path/filepath"

// DBPath is the SQLite state database.
func (c *Config) DBPath() string { return filepath.Join(c.StateDir, "banger.db") }

// LogPath is the daemon log file.
func (c *Config) LogPath() string { return filepath.Join(c.StateDir, "bangerd.log") }

// SocketPath is the daemon's API socket.
func (c *Config) SocketPath() string { return filepath.Join(c.RuntimeDir, "bangerd.sock") }

// ImagesDir holds root filesystem images.
func (c *Config) ImagesDir() string { return filepath.Join(c.StateDir, "images") }

// KernelsDir holds guest kernels and initrds.
func (c *Config) KernelsDir() string { return filepath.Join(c.StateDir, "kernels") }

// VMsDir holds per-VM persistent files (disks, metadata).
func (c *Config) VMsDir() string { return filepath.Join(c.StateDir, "vms") }

// CacheDir holds downloads and other re-creatable data.
func (c *Config) CacheDir() string { return filepath.Join(c.StateDir, "cache") }

// VMRuntimeDir holds the runtime files (sockets, pid files) of VM id.
func (c *Config) VMRuntimeDir(id string) string { return filepath.Join(c.RuntimeDir, "vms", id) }

// KnownHostsPath is the SSH known_hosts file for guests.
func (c *Config) KnownHostsPath() string { return filepath.Join(c.StateDir, "ssh", "known_hosts") }

// SSHConfigPath is banger's own ssh config, included from ~/.ssh/config by
// `banger ssh-config --install` so that `ssh NAME.vm` works.
func (c *Config) SSHConfigPath() string { return filepath.Join(c.StateDir, "ssh", "config") }
