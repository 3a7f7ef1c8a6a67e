package doctor

import (
	"strings"
	"testing"
)

func TestWriteDefaultsGivesEachItsReason(t *testing.T) {
	var b strings.Builder
	WriteDefaults(&b, []Default{
		{Name: "vcpu", Value: "2", Source: "host", Why: "TCG: a second vCPU halves the boot; host has 2 cores"},
		{Name: "root size", Value: "4G", Source: "builtin", Why: "built in"},
	})
	want := "\nVM defaults:\n" +
		"  vcpu       2   (host: TCG: a second vCPU halves the boot; host has 2 cores)\n" +
		"  root size  4G  (builtin: built in)\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
