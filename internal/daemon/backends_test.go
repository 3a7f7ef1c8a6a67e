package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"banger/internal/config"
	"banger/internal/vmm"
)

func TestUnbuildableBackendIsAClearError(t *testing.T) {
	reg, err := vmm.NewRegistry(
		vmm.Backend{Name: "plain", Rank: 1, New: func(vmm.Env) (vmm.VMM, error) { return nil, errors.New("plain is fine") }},
		vmm.Backend{Name: "fancy", Rank: 2,
			Available: func(context.Context, vmm.Env) error { return errors.New("fancy is not installed") },
			New: func(vmm.Env) (vmm.VMM, error) {
				return nil, errors.New(`the fancy binary "/nonexistent/fancy" was not found on PATH`)
			}},
	)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Defaults(config.Host{Getenv: func(string) string { return "" }, EUID: 0, Home: t.TempDir(), CPUs: 2, MemoryBytes: 4 << 30}, reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.StateDir, cfg.RuntimeDir = t.TempDir(), t.TempDir()
	cfg.VMM = "fancy"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	backends, chosen, err := Backends(context.Background(), cfg, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	if chosen != "fancy" {
		t.Fatalf("chosen %q, want fancy", chosen)
	}
	pf, ok := backends["fancy"].(vmm.Preflighter)
	if !ok {
		t.Fatal("unbuildable backend has no Preflight")
	}
	err = pf.Preflight(context.Background())
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/fancy") || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("preflight error %v should name the missing binary", err)
	}
	if _, ok := backends["plain"]; !ok {
		t.Error("plain backend missing")
	}

	cfg.VMM = "auto"
	_, chosen, err = Backends(context.Background(), cfg, reg, log)
	if err != nil || chosen != "plain" {
		t.Fatalf("auto without fancy chose %q (%v), want plain", chosen, err)
	}
	cfg.VMM = "nope"
	if _, _, err := Backends(context.Background(), cfg, reg, log); !errors.Is(err, vmm.ErrUnknownBackend) {
		t.Fatalf("unknown backend: err = %v", err)
	}
}
