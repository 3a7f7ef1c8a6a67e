package daemon

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"banger/internal/config"
)

func TestFirecrackerMissingIsAClearError(t *testing.T) {
	cfg, err := config.Defaults(config.Host{Getenv: func(string) string { return "" }, EUID: 0, Home: t.TempDir(), CPUs: 2, MemoryBytes: 4 << 30})
	if err != nil {
		t.Fatal(err)
	}
	cfg.StateDir, cfg.RuntimeDir = t.TempDir(), t.TempDir()
	cfg.VMM = "firecracker"
	cfg.FirecrackerBin = "/nonexistent/firecracker"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	backends, chosen, err := Backends(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if chosen != "firecracker" {
		t.Fatalf("chosen %q, want firecracker", chosen)
	}
	pf, ok := backends["firecracker"].(interface{ Preflight(context.Context) error })
	if !ok {
		t.Fatal("firecracker backend has no Preflight")
	}
	err = pf.Preflight(context.Background())
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/firecracker") || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("preflight error %v should name the missing binary", err)
	}
	if _, ok := backends["qemu"]; !ok {
		t.Error("qemu backend missing")
	}

	cfg.VMM = "auto"
	_, chosen, err = Backends(context.Background(), cfg, log)
	if err != nil || chosen != "qemu" {
		t.Fatalf("auto without firecracker chose %q (%v), want qemu", chosen, err)
	}
}
