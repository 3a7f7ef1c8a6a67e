// Package units parses and formats sizes in binary units (8G, 512M).
package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

var sizeUnits = []struct {
	suffix string
	shift  uint
}{
	{"T", 40},
	{"G", 30},
	{"M", 20},
	{"K", 10},
}

// ParseSize parses a size such as "512M", "8G", "10GiB", "1T" or a plain
// number of bytes. Units are binary (1K = 1024) and case-insensitive; an
// optional "B" or "iB" may follow the unit letter. Zero, negative and
// malformed sizes are rejected.
func ParseSize(s string) (int64, error) {
	bad := fmt.Errorf("bad size %q: use a number with a unit, e.g. 8G or 512M", s)
	str := strings.ToUpper(strings.TrimSpace(s))
	if str == "" {
		return 0, bad
	}
	shift := uint(0)
	for _, u := range sizeUnits {
		for _, suf := range []string{u.suffix + "IB", u.suffix + "B", u.suffix} {
			if strings.HasSuffix(str, suf) {
				str = strings.TrimSuffix(str, suf)
				shift = u.shift
				break
			}
		}
		if shift != 0 {
			break
		}
	}
	if shift == 0 {
		str = strings.TrimSuffix(str, "B")
	}
	str = strings.TrimSpace(str)
	// Digits only: no sign, no fraction, no exponent.
	if str == "" || strings.Trim(str, "0123456789") != "" {
		return 0, bad
	}
	n, err := strconv.ParseInt(str, 10, 64)
	if err != nil || n <= 0 {
		return 0, bad
	}
	if n > math.MaxInt64>>shift {
		return 0, fmt.Errorf("bad size %q: too large", s)
	}
	return n << shift, nil
}

// FormatSize renders n using the largest binary unit that divides it
// exactly, e.g. 8G, 512M, 1536K or 1000 (bytes).
func FormatSize(n int64) string {
	if n != 0 {
		for _, u := range sizeUnits {
			if m := int64(1) << u.shift; n%m == 0 {
				return strconv.FormatInt(n/m, 10) + u.suffix
			}
		}
	}
	return strconv.FormatInt(n, 10)
}
