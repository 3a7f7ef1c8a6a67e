package units

import (
	"fmt"
	"strings"
	"time"
)

// MaxLifetime bounds a lifetime (ten years), far from where a
// time.Duration overflows.
const MaxLifetime = 10 * 365 * 24 * time.Hour

// ParseLifetime parses how long something may last as a user gives it
// for key (--auto-stop, --ttl, auto_stop_stale_after): a Go duration from
// one second to MaxLifetime, or "0" or "off" for none (0). An empty
// string is 0 too.
func ParseLifetime(key, s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "0" || strings.EqualFold(s, "off") {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d > MaxLifetime {
		return 0, fmt.Errorf("%s %q: use a duration from 1s to %s such as 30m or 2h, or off", key, s, MaxLifetime)
	}
	return d, nil
}
