package dnsname

import (
	"regexp"
	"testing"
)

var labelRE = regexp.MustCompile(`^[a-z0-9-]{1,63}$`)

// FuzzValidLabel: ValidLabel accepts exactly the labels of its rule, so a
// name it passes cannot smuggle a dot, a space or a control character
// into a DNS record, a hostname or an ssh_config Host line.
func FuzzValidLabel(f *testing.F) {
	f.Add("web1")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidLabel(s), labelRE.MatchString(s); got != want {
			t.Fatalf("ValidLabel(%q) = %v, want %v", s, got, want)
		}
	})
}
