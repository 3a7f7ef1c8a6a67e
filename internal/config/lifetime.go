package config

import (
	"fmt"
	"time"

	"banger/internal/units"
)

// DefaultLifetimeCheckInterval is how often the daemon checks for idle
// VMs and VMs whose time to live ended.
const DefaultLifetimeCheckInterval = "10s"

// AutoStopDuration returns auto_stop_stale_after parsed: how long a VM
// that does not say (vm create --auto-stop) may stay idle before it is
// stopped; 0 (unset, "0" or "off") never stops it.
func (c *Config) AutoStopDuration() (time.Duration, error) {
	return units.ParseLifetime("auto_stop_stale_after", c.AutoStopStaleAfter)
}

// LifetimeCheckDuration returns lifetime_check_interval parsed (the
// default if unset): from 1s to 1h.
func (c *Config) LifetimeCheckDuration() (time.Duration, error) {
	d, err := duration("lifetime_check_interval", c.LifetimeCheckInterval, DefaultLifetimeCheckInterval)
	if err == nil && (d < time.Second || d > time.Hour) {
		err = fmt.Errorf("lifetime_check_interval %q: use 1s to 1h, e.g. lifetime_check_interval = %q", c.LifetimeCheckInterval, DefaultLifetimeCheckInterval)
	}
	return d, err
}

func (c *Config) validateLifetimes() problems {
	var p problems
	if _, err := c.AutoStopDuration(); err != nil {
		p = append(p, err)
	}
	if _, err := c.LifetimeCheckDuration(); err != nil {
		p = append(p, err)
	}
	return p
}
