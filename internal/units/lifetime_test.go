package units

import (
	"testing"
	"time"
)

func TestParseLifetime(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{"", 0, false}, {"0", 0, false}, {"off", 0, false}, {"OFF", 0, false},
		{"30m", 30 * time.Minute, false}, {"1s", time.Second, false}, {"2h30m", 150 * time.Minute, false},
		{"999ms", 0, true}, {"-5m", 0, true}, {"soon", 0, true}, {"30", 0, true}, {"90000h", 0, true},
	} {
		got, err := ParseLifetime("--ttl", tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseLifetime(%q) = %s, %v; want %s, bad %v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}
