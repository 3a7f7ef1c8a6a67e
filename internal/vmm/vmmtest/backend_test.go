// Package vmmtest_test shows that a backend only has to register itself:
// a test-only backend, added to the built-in registry here, is accepted by
// config validation (its vmm name and its own key), listed by doctor, and
// chosen by the daemon both by name and by "auto" ranking. No package
// outside the registry needed editing for that.
package vmmtest_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/config"
	"banger/internal/daemon"
	"banger/internal/doctor"
	"banger/internal/doctor/doctortest"
	"banger/internal/vmm"
	"banger/internal/vmm/builtin"
)

// toy is the test-only VMM.
type toy struct{ mode string }

func (toy) Name() string { return "toy" }
func (toy) Start(context.Context, vmm.Config) (vmm.Handle, error) {
	return vmm.Handle{}, errors.New("toy VMs do not run")
}
func (toy) Stop(context.Context, vmm.Handle, time.Duration) error { return vmm.ErrNotRunning }
func (toy) Kill(context.Context, vmm.Handle) error                { return vmm.ErrNotRunning }
func (toy) Wait(context.Context, vmm.Handle) error                { return nil }
func (toy) Status(context.Context, vmm.Handle) (vmm.State, error) { return vmm.StateStopped, nil }

// toyBackend ranks above every built-in backend and is always available.
func toyBackend() vmm.Backend {
	return vmm.Backend{
		Name:     "toy",
		Rank:     1000,
		Settings: []vmm.Setting{{Key: "toy_mode", Default: "calm"}},
		Validate: func(s vmm.Settings) []error {
			if m := s.String("toy_mode"); m != "calm" && m != "wild" {
				return []error{errors.New(`toy_mode must be "calm" or "wild"`)}
			}
			return nil
		},
		New: func(env vmm.Env) (vmm.VMM, error) { return toy{mode: env.Settings.String("toy_mode")}, nil },
		Doctor: func(_ context.Context, env vmm.Env, role vmm.Role) []vmm.Check {
			return []vmm.Check{{Name: "toy", Status: vmm.CheckOK, Detail: "toy in " + env.Settings.String("toy_mode") + " mode", Hard: role.Chosen}}
		},
	}
}

func registry(t *testing.T) *vmm.Registry {
	t.Helper()
	reg := builtin.Registry()
	if err := reg.Register(toyBackend()); err != nil {
		t.Fatal(err)
	}
	return reg
}

func load(t *testing.T, reg *vmm.Registry, content string) (*config.Config, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c, _, err := config.LoadHost(p, config.Host{EUID: 1000, Home: dir}, reg)
	return c, err
}

func TestToyBackendIsAcceptedByConfig(t *testing.T) {
	reg := registry(t)
	c, err := load(t, reg, "vmm = \"toy\"\ntoy_mode = \"wild\"\n")
	if err != nil {
		t.Fatalf("config with vmm = \"toy\": %v", err)
	}
	if c.VMM != "toy" || c.Backends.String("toy_mode") != "wild" {
		t.Errorf("vmm %q, toy_mode %q", c.VMM, c.Backends.String("toy_mode"))
	}
	if _, err := load(t, reg, "toy_mode = \"sleepy\"\n"); err == nil || !strings.Contains(err.Error(), "toy_mode must be") {
		t.Errorf("bad toy_mode: err = %v", err)
	}
	// Without the toy registered, neither its name nor its key is known.
	if _, err := load(t, builtin.Registry(), "vmm = \"toy\"\n"); err == nil || !strings.Contains(err.Error(), `vmm "toy" is not valid`) {
		t.Errorf("unregistered toy: err = %v", err)
	}
	if _, err := load(t, builtin.Registry(), "toy_mode = \"calm\"\n"); err == nil || !strings.Contains(err.Error(), `unknown key "toy_mode"`) {
		t.Errorf("unregistered toy key: err = %v", err)
	}
}

func TestToyBackendIsChosen(t *testing.T) {
	reg := registry(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, content := range []string{"vmm = \"toy\"\n", "vmm = \"auto\"\n"} {
		c, err := load(t, reg, content)
		if err != nil {
			t.Fatal(err)
		}
		backends, chosen, err := daemon.Backends(context.Background(), c, reg, log)
		if err != nil {
			t.Fatal(err)
		}
		if chosen != "toy" {
			t.Errorf("%q: chose %q, want toy", content, chosen)
		}
		if b, ok := backends["toy"].(toy); !ok || b.mode != "calm" {
			t.Errorf("%q: toy backend = %#v", content, backends["toy"])
		}
	}
}

func TestToyBackendIsListedByDoctor(t *testing.T) {
	reg := registry(t)
	h := doctortest.New(t)
	r := doctor.Run(context.Background(), h.Inputs(reg))
	if c := doctortest.MustFind(t, r, "toy"); c.Detail != "toy in calm mode" || !c.Hard {
		t.Errorf("toy check = %+v, want the chosen backend's hard check", c)
	}
	if v := doctortest.MustFind(t, r, "vmm").Detail; v != "toy (vmm=auto: the highest-ranked backend, and available)" {
		t.Errorf("vmm = %q", v)
	}
	if r.VMM != "toy" {
		t.Errorf("doctor chose %q, want toy", r.VMM)
	}
}
