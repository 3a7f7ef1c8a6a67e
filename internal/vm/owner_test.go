package vm_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"banger/internal/access"
	"banger/internal/forward"
	"banger/internal/store"
	"banger/internal/vm"
	"banger/internal/vm/vmtest"
)

func names(infos []vm.Info) []string {
	var out []string
	for _, in := range infos {
		out = append(out, in.Name)
	}
	slices.Sort(out)
	return out
}

// TestOwnersSeeOnlyTheirVMs: two users who are not root, and root. Each
// user sees and controls only the VMs it created; another's VM answers
// like a missing one, by name and by id. Root and the daemon's own work
// see everything.
func TestOwnersSeeOnlyTheirVMs(t *testing.T) {
	e := vmtest.New(t)
	s := e.Service
	alice := access.WithCaller(ctx, access.Caller{UID: 1001, GID: 1001, PID: 11})
	bob := access.WithCaller(ctx, access.Caller{UID: 1002, GID: 1002, PID: 12})
	root := access.WithCaller(ctx, access.Caller{UID: 0, Admin: true})
	mk := func(c context.Context, name string, start bool) vm.Info {
		in, err := s.Create(c, vm.CreateRequest{Name: name, NoStart: !start}, nil)
		if err != nil {
			t.Fatalf("Create(%s): %v", name, err)
		}
		return in
	}
	mk(root, "roots", false)
	a1 := mk(alice, "a1", false)
	a2 := mk(alice, "a2", true)
	b1 := mk(bob, "b1", true)
	if a1.OwnerUID != 1001 || b1.OwnerUID != 1002 {
		t.Fatalf("owners recorded: a1 %d, b1 %d", a1.OwnerUID, b1.OwnerUID)
	}
	list := func(c context.Context) []string {
		infos, err := s.List(c)
		if err != nil {
			t.Fatal(err)
		}
		return names(infos)
	}
	for who, want := range map[string]struct {
		c   context.Context
		vms []string
	}{
		"alice":      {alice, []string{"a1", "a2"}},
		"bob":        {bob, []string{"b1"}},
		"root":       {root, []string{"a1", "a2", "b1", "roots"}},
		"the daemon": {ctx, []string{"a1", "a2", "b1", "roots"}},
	} {
		if got := list(want.c); !slices.Equal(got, want.vms) {
			t.Errorf("%s lists %v, want %v", who, got, want.vms)
		}
	}

	// Every operation on bob's VM, by alice, is "not found".
	ops := map[string]func(name string) error{
		"get":     func(n string) error { _, err := s.Get(alice, n); return err },
		"start":   func(n string) error { _, err := s.Start(alice, n, nil); return err },
		"stop":    func(n string) error { _, err := s.Stop(alice, n, nil); return err },
		"kill":    func(n string) error { _, err := s.Kill(alice, n, nil); return err },
		"restart": func(n string) error { _, err := s.Restart(alice, n, nil); return err },
		"delete":  func(n string) error { return s.Delete(alice, n) },
		"set":     func(n string) error { one := 1; _, err := s.Set(alice, n, vm.SetRequest{VCPUs: &one}); return err },
		"ssh":     func(n string) error { _, err := s.Target(alice, n); return err },
		"logs":    func(n string) error { _, err := s.OpenConsoleLog(alice, n, 0); return err },
		"ports":   func(n string) error { _, err := s.Ports(alice, n); return err },
		"stats":   func(n string) error { _, err := s.Stats(alice, n); return err },
		"connect": func(n string) error { _, err := s.Connect(alice, n); return err },
		"workspace": func(n string) error {
			return s.SetWorkspace(alice, n, store.Workspace{HostPath: "/x", GuestPath: "/root/x"})
		},
		"forward": func(n string) error {
			_, _, err := s.Forward(alice, n, forward.Spec{HostPort: 0, GuestPort: 22})
			return err
		},
	}
	for op, fn := range ops {
		for _, ref := range []string{b1.Name, b1.ID, "roots"} {
			if err := fn(ref); !errors.Is(err, vm.ErrNotFound) {
				t.Errorf("alice %s %s = %v, want not found", op, ref, err)
			}
		}
	}
	if in, err := s.Get(bob, "b1"); err != nil || !in.Running {
		t.Fatalf("bob's VM after alice's attempts: %+v, %v", in, err)
	}
	if _, err := s.Get(root, "b1"); err != nil {
		t.Errorf("root get b1 = %v", err)
	}

	// Prune by alice deletes only her own stopped VM.
	pruned, err := s.Prune(alice)
	if err != nil || !slices.Equal(pruned, []string{"a1"}) {
		t.Fatalf("alice prune = %v, %v; want [a1]", pruned, err)
	}
	if got := list(root); !slices.Equal(got, []string{"a2", "b1", "roots"}) {
		t.Errorf("after alice's prune root lists %v", got)
	}

	// A user may not forward a privileged host port; root may.
	if _, _, err := s.Forward(alice, a2.Name, forward.Spec{HostPort: 80, GuestPort: 80}); !errors.Is(err, access.ErrRefused) {
		t.Errorf("alice forward :80 = %v, want refused", err)
	}
	// Forwards are listed to their VM's owner (and root) only.
	s.Forwards = &forward.Manager{}
	f, _, err := s.Forward(bob, "b1", forward.Spec{HostAddr: netip.MustParseAddr("127.0.0.1"), GuestPort: 22})
	if err != nil {
		t.Fatalf("bob forward = %v", err)
	}
	defer s.EndForward(f.ID)
	if n := len(s.ListForwards(alice)); n != 0 {
		t.Errorf("alice sees %d of bob's forwards", n)
	}
	if len(s.ListForwards(bob)) != 1 || len(s.ListForwards(root)) != 1 {
		t.Errorf("bob sees %d forwards, root %d; want 1 each", len(s.ListForwards(bob)), len(s.ListForwards(root)))
	}
	if err := s.Delete(bob, "b1"); err != nil {
		t.Errorf("bob delete b1 = %v", err)
	}
	if got := list(root); !slices.Equal(got, []string{"a2", "roots"}) {
		t.Errorf("after bob's delete root lists %v", got)
	}
}
