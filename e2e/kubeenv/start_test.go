package kubeenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStartFailsWhenAComponentExits runs stand-ins that fail at once:
// Start must say which one exited, show its log, and leave nothing running.
func TestStartFailsWhenAComponentExits(t *testing.T) {
	bin := t.TempDir()
	for _, c := range components() {
		script := "#!/bin/sh\necho " + c + " cannot start >&2\nexit 3\n"
		if c == "kube-apiserver" {
			script = "#!/bin/sh\nexec sleep 60\n"
		}
		if err := os.WriteFile(filepath.Join(bin, c), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	env, err := Start(t.Context(), bin, t.TempDir(), "")
	if err == nil {
		env.Stop()
		t.Fatal("Start succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "etcd exited") || !strings.Contains(msg, "etcd cannot start") {
		t.Fatalf("Start error does not name etcd and show its log:\n%s", msg)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("Start took %s to notice", d)
	}
}
