package shquote

import (
	"os/exec"
	"strings"
	"testing"
)

func TestQuoteRoundTripsThroughSh(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	args := []string{"plain", "with space", "it's", `dq"uote`, "$HOME", "a;b", "", "*", "back\\slash", "new\nline"}
	var quoted []string
	for _, a := range args {
		quoted = append(quoted, Quote(a))
	}
	// printf '%s\0' prints each argument the shell received, NUL-separated.
	out, err := exec.Command("sh", "-c", "printf '%s\\0' "+strings.Join(quoted, " ")).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if len(got) != len(args) {
		t.Fatalf("got %d args %q, want %d", len(got), got, len(args))
	}
	for i := range args {
		if got[i] != args[i] {
			t.Errorf("arg %d: got %q want %q", i, got[i], args[i])
		}
	}
}

func TestJoin(t *testing.T) {
	if got := Join("sh", "-c", "echo hi; exit 7"); got != "sh -c 'echo hi; exit 7'" {
		t.Errorf("Join = %q", got)
	}
}
