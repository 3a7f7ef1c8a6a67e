package dnsname

import (
	"strings"
	"testing"
)

func TestValidLabel(t *testing.T) {
	for name, want := range map[string]bool{
		"happy-otter": true, "web1": true, "a": true, "-edge-": true,
		"": false, "Web1": false, "a.b": false, "bad_name": false, "é": false, "a b": false,
		strings.Repeat("a", 63): true, strings.Repeat("a", 64): false,
	} {
		if ValidLabel(name) != want {
			t.Errorf("ValidLabel(%q) = %v", name, !want)
		}
	}
}
