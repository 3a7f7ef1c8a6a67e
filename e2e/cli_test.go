package e2e

import (
	"strings"
	"testing"
)

// TestVersionAndCompletion (issue 11, items 8 and 9) asks the real daemon
// for its build and for the names shell completion offers. No VM boots
// (--no-start).
func TestVersionAndCompletion(t *testing.T) {
	e := newCrashEnv(t)
	out := e.ok("version")
	if !strings.HasPrefix(out, "Client:\n Version:") || !strings.Contains(out, "\nServer: bangerd\n Version:") ||
		!strings.Contains(out, " API version: v1\n") {
		t.Errorf("banger version:\n%s", out)
	}
	e.ok("vm", "create", "--no-start", "--image", "bb", "--name", "compl")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "vm", "ssh", ""}, "compl\tcreated\n"},
		{[]string{"__complete", "vm", "create", "--image", ""}, "bb\t"},
		{[]string{"__complete", "image", "pull", "x", "--kernel", ""}, "k\t"},
	} {
		if out := e.ok(tc.args...); !strings.HasPrefix(out, tc.want) || !strings.Contains(out, "\n:4\n") {
			t.Errorf("banger %s:\n%s\nwant it to start with %q", strings.Join(tc.args, " "), out, tc.want)
		}
	}
	e.ok("vm", "delete", "compl")
}
