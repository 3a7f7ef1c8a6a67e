package vmm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Auto is the vmm setting that lets the registry choose the backend.
const Auto = "auto"

// Registry holds the backends a build of banger offers, in the order they
// were registered. It is an explicit value: cmd/ builds one (see package
// vmm/builtin) and hands it to the daemon, config validation and doctor.
type Registry struct {
	backends []Backend
}

// NewRegistry returns a registry holding bs.
func NewRegistry(bs ...Backend) (*Registry, error) {
	r := &Registry{}
	for _, b := range bs {
		if err := r.Register(b); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Register adds b. Names and setting keys must be unique.
func (r *Registry) Register(b Backend) error {
	switch {
	case b.Name == "" || b.Name == Auto:
		return fmt.Errorf("register vmm backend: invalid name %q", b.Name)
	case b.New == nil:
		return fmt.Errorf("register vmm backend %s: no constructor", b.Name)
	}
	if _, ok := r.Lookup(b.Name); ok {
		return fmt.Errorf("register vmm backend %s: already registered", b.Name)
	}
	for _, s := range b.Settings {
		if owner, ok := r.owner(s.Key); ok {
			return fmt.Errorf("register vmm backend %s: key %s already belongs to %s", b.Name, s.Key, owner)
		}
	}
	r.backends = append(r.backends, b)
	return nil
}

// Lookup returns the backend called name.
func (r *Registry) Lookup(name string) (Backend, bool) {
	if r == nil {
		return Backend{}, false
	}
	for _, b := range r.backends {
		if b.Name == name {
			return b, true
		}
	}
	return Backend{}, false
}

// Backends returns the backends in registration order.
func (r *Registry) Backends() []Backend {
	if r == nil {
		return nil
	}
	return slices.Clone(r.backends)
}

// Names returns the backend names in registration order.
func (r *Registry) Names() []string {
	var out []string
	for _, b := range r.Backends() {
		out = append(out, b.Name)
	}
	return out
}

func (r *Registry) owner(key string) (string, bool) {
	_, b, ok := r.Setting(key)
	return b, ok
}

// Setting returns the declaration of a backend config key and the backend
// that owns it.
func (r *Registry) Setting(key string) (Setting, string, bool) {
	for _, b := range r.Backends() {
		for _, s := range b.Settings {
			if s.Key == key {
				return s, b.Name, true
			}
		}
	}
	return Setting{}, "", false
}

// Defaults returns every backend key's default value (unset Bool keys are
// absent).
func (r *Registry) Defaults() Settings {
	s := Settings{}
	for _, b := range r.Backends() {
		for _, st := range b.Settings {
			if st.Default != nil {
				s[st.Key] = st.Default
			}
		}
	}
	return s
}

// Validate checks the vmm setting and every backend's settings.
func (r *Registry) Validate(vmm string, s Settings) []error {
	var errs []error
	if _, ok := r.Lookup(vmm); !ok && vmm != Auto {
		errs = append(errs, fmt.Errorf("vmm %q is not valid: use one of %s", vmm, strings.Join(append([]string{Auto}, r.Names()...), ", ")))
	}
	for _, b := range r.Backends() {
		if b.Validate != nil {
			errs = append(errs, b.Validate(s)...)
		}
	}
	return errs
}

// Choice is the backend new VMs run on and why.
type Choice struct {
	Name string
	// Why explains an automatic choice: the reasons the higher-ranked
	// backends were passed over.
	Why string
}

// ErrUnknownBackend is returned by Choose for a name nobody registered.
var ErrUnknownBackend = errors.New("unknown vmm backend")

// Choose picks the backend for vmm: the named one, or for "auto" the
// highest-ranked available one. When none is available, auto falls back to
// the lowest-ranked backend, whose own checks then say what is missing.
func (r *Registry) Choose(ctx context.Context, env Env, vmm string) (Choice, error) {
	if vmm != Auto {
		if _, ok := r.Lookup(vmm); !ok {
			return Choice{}, fmt.Errorf("%w %q", ErrUnknownBackend, vmm)
		}
		return Choice{Name: vmm}, nil
	}
	ranked := r.Backends()
	if len(ranked) == 0 {
		return Choice{}, errors.New("no vmm backend is registered")
	}
	slices.SortStableFunc(ranked, func(a, b Backend) int { return cmp.Compare(b.Rank, a.Rank) })
	var passed []string
	for _, b := range ranked {
		if b.Available == nil {
			return Choice{Name: b.Name, Why: strings.Join(passed, "; ")}, nil
		}
		err := b.Available(ctx, env)
		if err == nil {
			return Choice{Name: b.Name, Why: strings.Join(passed, "; ")}, nil
		}
		passed = append(passed, err.Error())
	}
	return Choice{Name: ranked[len(ranked)-1].Name, Why: strings.Join(passed, "; ")}, nil
}

// Build constructs every backend. One that cannot be built is replaced by
// a VMM whose Preflight and Start report why, so a config asking for it
// fails with the reason when a VM is created.
func (r *Registry) Build(env Env) map[string]VMM {
	out := map[string]VMM{}
	for _, b := range r.Backends() {
		v, err := b.New(env)
		if err != nil {
			v = unavailable{name: b.Name, err: err}
		}
		out[b.Name] = v
	}
	return out
}

// unavailable is a backend this host or build cannot provide; every
// operation fails with the reason.
type unavailable struct {
	name string
	err  error
}

func (u unavailable) Name() string { return u.name }

// Preflight fails with the reason the backend cannot run VMs.
func (u unavailable) Preflight(context.Context) error {
	return fmt.Errorf("vmm = %q: %w", u.name, u.err)
}
func (u unavailable) Start(context.Context, Config) (Handle, error) {
	return Handle{}, fmt.Errorf("vmm %s: %w", u.name, u.err)
}
func (u unavailable) Stop(context.Context, Handle, time.Duration) error { return ErrNotRunning }
func (u unavailable) Kill(context.Context, Handle) error                { return ErrNotRunning }
func (u unavailable) Wait(context.Context, Handle) error                { return ErrNotRunning }
func (u unavailable) Status(context.Context, Handle) (State, error)     { return StateStopped, nil }
