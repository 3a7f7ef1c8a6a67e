package cli

import (
	"strings"
	"testing"
)

func TestPrintList(t *testing.T) {
	type row struct{ A, B string }
	var out strings.Builder
	if err := printList[row](&out, nil, true, nil, nil); err != nil || strings.TrimSpace(out.String()) != "[]" {
		t.Fatalf("empty JSON list = %q, %v", out.String(), err)
	}
	out.Reset()
	err := printList(&out, []row{{"alpha", "1"}, {"b", "22"}}, false, []string{"NAME", "N"}, func(r row) []string { return []string{r.A, r.B} })
	if err != nil {
		t.Fatal(err)
	}
	want := "NAME   N\nalpha  1\nb      22\n"
	if out.String() != want {
		t.Fatalf("table:\n%q\nwant\n%q", out.String(), want)
	}
}
