package units

import (
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"512M", 512 << 20},
		{"8G", 8 << 30},
		{"8g", 8 << 30},
		{"10GiB", 10 << 30},
		{"10GB", 10 << 30},
		{"1T", 1 << 40},
		{"64K", 64 << 10},
		{"4096", 4096},
		{"4096B", 4096},
		{" 2G ", 2 << 30},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseSizeRejects(t *testing.T) {
	for _, in := range []string{"", "x", "-1G", "-5", "0", "0G", "G", "1.5G", "8X", "8 G B", "1e9", "+5M", "0x10", "9999999999T"} {
		_, err := ParseSize(in)
		if err == nil {
			t.Errorf("ParseSize(%q) succeeded, want error", in)
			continue
		}
		if !strings.HasPrefix(err.Error(), "bad size ") {
			t.Errorf("ParseSize(%q) error %q does not start with 'bad size'", in, err)
		}
	}
	_, err := ParseSize("x")
	if want := `bad size "x": use a number with a unit, e.g. 8G or 512M`; err == nil || err.Error() != want {
		t.Errorf("ParseSize(x) error = %v, want %q", err, want)
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{8 << 30, "8G"},
		{512 << 20, "512M"},
		{1536 << 20, "1536M"},
		{2 << 40, "2T"},
		{3 << 10, "3K"},
		{1000, "1000"},
		{0, "0"},
	}
	for _, tt := range tests {
		if got := FormatSize(tt.in); got != tt.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.in > 0 {
			back, err := ParseSize(FormatSize(tt.in))
			if err != nil || back != tt.in {
				t.Errorf("round trip %d -> %q -> %d, %v", tt.in, FormatSize(tt.in), back, err)
			}
		}
	}
}
