package units

import (
	"strings"
	"testing"
)

// FuzzParseSize: a size that parses is positive and survives
// FormatSize/ParseSize unchanged; the error names the input.
func FuzzParseSize(f *testing.F) {
	f.Add("8G")
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if !strings.Contains(err.Error(), "bad size") {
				t.Fatalf("ParseSize(%q) error %q does not say what was bad", s, err)
			}
			return
		}
		if n <= 0 {
			t.Fatalf("ParseSize(%q) = %d, want > 0", s, n)
		}
		back, err := ParseSize(FormatSize(n))
		if err != nil || back != n {
			t.Fatalf("ParseSize(FormatSize(%d)) = %d, %v; want %d (from %q)", n, back, err, n, s)
		}
	})
}

// FuzzFormatSize: every positive size FormatSize renders parses back.
func FuzzFormatSize(f *testing.F) {
	f.Add(int64(8 << 30))
	f.Fuzz(func(t *testing.T, n int64) {
		if n <= 0 {
			return
		}
		s := FormatSize(n)
		if back, err := ParseSize(s); err != nil || back != n {
			t.Fatalf("ParseSize(FormatSize(%d) = %q) = %d, %v", n, s, back, err)
		}
	})
}
