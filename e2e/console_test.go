package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsoleFloodIsCapped boots one VM with a 64K console cap, has the
// guest write 2 MB to its serial port, and checks that its console log
// stays within the cap (console.log plus one console.log.1) while
// `vm logs` still shows the guest's last line.
func TestConsoleFloodIsCapped(t *testing.T) {
	const capBytes = 64 << 10
	e := newEnv(t, "console", func(*env) string { return "console_log_size = \"64K\"\n" })
	name := "e2e-console"
	e.ok("vm", "create", "--name", name)
	var id string
	for _, v := range e.list() {
		if v.Name == name {
			id = v.ID
		}
	}
	if id == "" {
		t.Fatalf("%s is not listed", name)
	}
	defer e.ok("vm", "delete", name)
	e.ok("vm", "exec", name, "--", "sh", "-c",
		"head -c 2000000 /dev/zero | tr '\\0' x > /dev/ttyS0; echo; echo CONSOLE-FLOOD-END > /dev/ttyS0")
	out := e.ok("vm", "logs", name)
	if !strings.Contains(out, "CONSOLE-FLOOD-END") {
		t.Errorf("vm logs lacks the guest's last line; it ends with:\n%s", lastLines(out, 5))
	}
	dir := filepath.Join(e.state, "vms", id)
	var total int64
	for _, n := range []string{"console.log", "console.log.1", "console.log.2"} {
		st, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			continue
		}
		t.Logf("%s: %d bytes", n, st.Size())
		if st.Size() > capBytes {
			t.Errorf("%s holds %d bytes, over the cap of %d", n, st.Size(), capBytes)
		}
		total += st.Size()
	}
	t.Logf("the guest wrote over 2000000 bytes to ttyS0; its console log holds %d (vm logs printed %d)", total, len(out))
	if total > 2*capBytes || total == 0 {
		t.Errorf("the console log holds %d bytes, want (0, %d]", total, 2*capBytes)
	}
	if _, err := os.Stat(filepath.Join(dir, "console.log.2")); err == nil {
		t.Error("a second rotated console log was kept")
	}
}
