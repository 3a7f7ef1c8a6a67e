package vmm

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func testBackend(name string, rank int, avail error, keys ...Setting) Backend {
	b := Backend{Name: name, Rank: rank, Settings: keys,
		New: func(Env) (VMM, error) { return nil, errors.New(name + " cannot be built here") }}
	if avail != nil {
		b.Available = func(context.Context, Env) error { return avail }
	}
	return b
}

func TestRegisterRejectsClashes(t *testing.T) {
	r, err := NewRegistry(testBackend("a", 1, nil, Setting{Key: "a_bin", Default: "a"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		b    Backend
		want string
	}{
		{testBackend("a", 2, nil), "already registered"},
		{testBackend("b", 2, nil, Setting{Key: "a_bin"}), "key a_bin already belongs to a"},
		{testBackend(Auto, 2, nil), "invalid name"},
		{Backend{Name: "c"}, "no constructor"},
	} {
		if err := r.Register(tt.b); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Register(%s) = %v, want %q", tt.b.Name, err, tt.want)
		}
	}
	if got := strings.Join(r.Names(), ","); got != "a" {
		t.Errorf("names after failed registrations = %s", got)
	}
}

func TestChoose(t *testing.T) {
	r, err := NewRegistry(
		testBackend("low", 1, nil),
		testBackend("high", 30, errors.New("high is not installed")),
		testBackend("mid", 20, errors.New("mid needs KVM")),
	)
	if err != nil {
		t.Fatal(err)
	}
	c, err := r.Choose(context.Background(), Env{}, Auto)
	if err != nil || c.Name != "low" || c.Why != "high is not installed; mid needs KVM" {
		t.Errorf("auto = %+v, %v; want low, with the passed-over reasons in rank order", c, err)
	}
	if c, err := r.Choose(context.Background(), Env{}, "high"); err != nil || c.Name != "high" {
		t.Errorf("named = %+v, %v; a named backend is chosen even if unavailable", c, err)
	}
	if _, err := r.Choose(context.Background(), Env{}, "xen"); !errors.Is(err, ErrUnknownBackend) {
		t.Errorf("unknown = %v", err)
	}
	// Nothing available: the lowest rank, whose own checks say what is missing.
	none, _ := NewRegistry(testBackend("x", 1, errors.New("x: no")), testBackend("y", 2, errors.New("y: no")))
	if c, _ := none.Choose(context.Background(), Env{}, Auto); c.Name != "x" || c.Why != "y: no; x: no" {
		t.Errorf("none available = %+v", c)
	}
	if _, err := (&Registry{}).Choose(context.Background(), Env{}, Auto); err == nil {
		t.Error("empty registry chose something")
	}
}

func TestDefaultsValidateAndBuild(t *testing.T) {
	r, err := NewRegistry(
		testBackend("a", 1, nil, Setting{Key: "a_bin", Default: "a-vmm"}, Setting{Key: "a_jail", Bool: true}),
		Backend{Name: "b", New: func(Env) (VMM, error) { return nil, nil },
			Validate: func(s Settings) []error { return []error{errors.New("b says " + s.String("a_bin"))} }},
	)
	if err != nil {
		t.Fatal(err)
	}
	d := r.Defaults()
	if len(d) != 1 || d.String("a_bin") != "a-vmm" {
		t.Errorf("defaults = %v (an unset bool has no default)", d)
	}
	if _, set := d.Bool("a_jail"); set {
		t.Error("a_jail is set by default")
	}
	errs := r.Validate("c", d)
	if len(errs) != 2 || errs[0].Error() != `vmm "c" is not valid: use one of auto, a, b` || errs[1].Error() != "b says a-vmm" {
		t.Errorf("Validate = %v", errs)
	}
	vms := r.Build(Env{})
	pf, ok := vms["a"].(Preflighter)
	if !ok || vms["a"].Name() != "a" {
		t.Fatalf("unbuildable a = %#v", vms["a"])
	}
	if err := pf.Preflight(context.Background()); err == nil || err.Error() != `vmm = "a": a cannot be built here` {
		t.Errorf("Preflight = %v", err)
	}
	if _, err := vms["a"].Start(context.Background(), Config{}); err == nil || !strings.Contains(err.Error(), "cannot be built here") {
		t.Errorf("Start = %v", err)
	}
}
