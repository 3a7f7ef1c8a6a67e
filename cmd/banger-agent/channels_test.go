package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPortPath(t *testing.T) {
	root := t.TempDir()
	mk := func(rel, content string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// No udev: only sysfs names the ports.
	mk("sys/class/virtio-ports/vport2p1/name", "org.banger.ssh\n")
	mk("sys/class/virtio-ports/vport2p2/name", "org.banger.agent\n")
	if got, want := portPath(root, "org.banger.agent"), filepath.Join(root, "dev/vport2p2"); got != want {
		t.Errorf("without udev: %s, want %s", got, want)
	}
	// udev's link wins when it is there.
	mk("dev/virtio-ports/org.banger.agent", "")
	if got, want := portPath(root, "org.banger.agent"), filepath.Join(root, "dev/virtio-ports/org.banger.agent"); got != want {
		t.Errorf("with udev: %s, want %s", got, want)
	}
	if got, want := portPath(root, "org.other"), filepath.Join(root, "dev/virtio-ports/org.other"); got != want {
		t.Errorf("missing port: %s, want %s", got, want)
	}
}
