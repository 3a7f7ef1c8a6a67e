package vm_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"banger/internal/forward"
	"banger/internal/poll"
	"banger/internal/store"
	"banger/internal/vm"
	"banger/internal/vm/vmtest"
)

// clock is a fake clock the tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// guestLoads is a fake agent's load average per VM name; err makes every
// read fail.
type guestLoads struct {
	mu   sync.Mutex
	load map[string]float64
	err  error
}

func (g *guestLoads) set(name string, l float64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.load == nil {
		g.load = map[string]float64{}
	}
	g.load[name] = l
}

func (g *guestLoads) read(ctx context.Context, v store.VM) (float64, error) {
	if _, ok := ctx.Deadline(); !ok {
		return 0, errors.New("an agent call without a deadline")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.load[v.Name], g.err
}

// lifetimeEnv is a service with a fake clock and fake guest loads.
func lifetimeEnv(t *testing.T) (*vmtest.Env, *clock, *guestLoads) {
	e := vmtest.New(t)
	c := &clock{now: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	g := &guestLoads{}
	e.Service.Lifetimes = vm.Lifetimes{Now: c.Now, Load: g.read}
	return e, c, g
}

// checkAt moves the clock by d and runs one check.
func checkAt(e *vmtest.Env, c *clock, d time.Duration) {
	c.advance(d)
	e.Service.CheckLifetimes(ctx)
}

func mustGet(t *testing.T, e *vmtest.Env, name string) vm.Info {
	t.Helper()
	in, err := e.Service.Get(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestIdleVMIsStoppedAfterItsAutoStop(t *testing.T) {
	e, c, _ := lifetimeEnv(t)
	start := c.Now()
	create(t, e, vm.CreateRequest{Name: "quiet", AutoStop: "20s"})
	checkAt(e, c, 0)
	in := mustGet(t, e, "quiet")
	if !in.Running || in.AutoStop != 20*time.Second || !in.IdleSince.Equal(start) {
		t.Fatalf("after the first check: running %v auto-stop %s idle since %s; want running, 20s, %s", in.Running, in.AutoStop, in.IdleSince, start)
	}
	checkAt(e, c, 19*time.Second)
	if !mustGet(t, e, "quiet").Running {
		t.Fatal("stopped after 19s idle; its auto-stop is 20s")
	}
	checkAt(e, c, time.Second)
	in = mustGet(t, e, "quiet")
	if in.Running || in.State != store.VMStateStopped || in.StoppedReason != store.StoppedIdle {
		t.Fatalf("after 20s idle: running %v state %q reason %q; want stopped, idle", in.Running, in.State, in.StoppedReason)
	}
	// A start, and a stop asked for, clear the reason.
	if _, err := e.Service.Start(ctx, "quiet", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Service.Stop(ctx, "quiet", nil); err != nil {
		t.Fatal(err)
	}
	if r := mustGet(t, e, "quiet").StoppedReason; r != "" {
		t.Errorf("a VM stopped on request says it stopped for %q", r)
	}
}

func TestAutoStopDefaultAndOff(t *testing.T) {
	e, c, _ := lifetimeEnv(t)
	e.Service.Lifetimes.AutoStop = 30 * time.Second
	create(t, e, vm.CreateRequest{Name: "follows"})
	create(t, e, vm.CreateRequest{Name: "never", AutoStop: "off"})
	checkAt(e, c, 0)
	checkAt(e, c, time.Hour)
	if mustGet(t, e, "follows").Running {
		t.Error("a VM that follows auto_stop_stale_after (30s) runs after an idle hour")
	}
	if !mustGet(t, e, "never").Running {
		t.Error("a VM with --auto-stop off was stopped")
	}
}

func TestNoAutoStopByDefault(t *testing.T) {
	e, c, _ := lifetimeEnv(t)
	create(t, e, vm.CreateRequest{Name: "plain"})
	checkAt(e, c, 0)
	checkAt(e, c, 24*time.Hour)
	if !mustGet(t, e, "plain").Running {
		t.Error("a VM was stopped for idleness with auto_stop_stale_after off")
	}
}

// The guest's load keeps the VM running while it is at the threshold or
// more and not falling; once it falls, the idle time counts.
func TestBusyCPUKeepsVMRunning(t *testing.T) {
	e, c, g := lifetimeEnv(t)
	create(t, e, vm.CreateRequest{Name: "busy", AutoStop: "20s"})
	for _, l := range []float64{0.5, 0.8, 1.0, 1.0, 1.0, 1.2, 1.2} {
		g.set("busy", l)
		checkAt(e, c, 10*time.Second)
		if !mustGet(t, e, "busy").Running {
			t.Fatalf("stopped with a steady or rising load (%.2f)", l)
		}
	}
	busySince := c.Now()
	for _, l := range []float64{1.1, 1.0, 1.0} { // falling: idle from here
		g.set("busy", l)
		checkAt(e, c, 10*time.Second)
	}
	if in := mustGet(t, e, "busy"); in.Running {
		t.Fatalf("still running after 30s of a falling load; idle since %s (busy until %s)", in.IdleSince, busySince)
	}
}

func TestUnreadableLoadKeepsVMRunning(t *testing.T) {
	e, c, g := lifetimeEnv(t)
	g.err = errors.New("agent gone")
	create(t, e, vm.CreateRequest{Name: "unknown", AutoStop: "20s"})
	for range 5 {
		checkAt(e, c, 10*time.Second)
	}
	if !mustGet(t, e, "unknown").Running {
		t.Error("a VM whose load cannot be read was stopped")
	}
}

func TestForwardInUseKeepsVMRunning(t *testing.T) {
	e, c, _ := lifetimeEnv(t)
	e.Service.Forwards = &forward.Manager{}
	in := create(t, e, vm.CreateRequest{Name: "served", AutoStop: "20s"})
	target := echo(t)
	f, err := e.Service.Forwards.Add(in.ID, in.Name, forward.Spec{HostAddr: netip.MustParseAddr("127.0.0.1"), GuestPort: target.Port()}, target.Addr())
	if err != nil {
		t.Fatal(err)
	}
	checkAt(e, c, 0)
	conn := dialEcho(t, f.Listen.String())
	if !runningAfter(t, e, c, "served", 4) {
		t.Fatal("stopped while a connection through its forward is open")
	}
	conn.Close()
	// A connection made and closed between two checks counts too.
	dialEcho(t, f.Listen.String()).Close()
	waitClosed(t, e.Service.Forwards, in.ID)
	if !runningAfter(t, e, c, "served", 1) { // this check sees that connection
		t.Fatal("stopped although its forward was used since the last check")
	}
	stopsTwoChecksAfter(t, e, c, "served", "its forward was last used")
}

func TestSessionKeepsVMRunning(t *testing.T) {
	e, c, _ := lifetimeEnv(t)
	e.UseAgentGuest(t)
	create(t, e, vm.CreateRequest{Name: "shell", AutoStop: "20s"})
	checkAt(e, c, 0)
	conn, err := e.Service.Connect(ctx, "shell")
	if err != nil {
		t.Fatal(err)
	}
	if !runningAfter(t, e, c, "shell", 4) {
		t.Fatal("stopped while a session is open")
	}
	conn.Close()
	conn.Close() // a second close ends no other session
	stopsTwoChecksAfter(t, e, c, "shell", "its last session ended")
}

// runningAfter runs n checks 10s apart and says whether VM name still runs.
func runningAfter(t *testing.T, e *vmtest.Env, c *clock, name string, n int) bool {
	t.Helper()
	for range n {
		checkAt(e, c, 10*time.Second)
	}
	return mustGet(t, e, name).Running
}

// stopsTwoChecksAfter checks that VM name, with --auto-stop 20s and now
// idle since what, runs at the next check (10s) and stops at the one after.
func stopsTwoChecksAfter(t *testing.T, e *vmtest.Env, c *clock, name, what string) {
	t.Helper()
	if !runningAfter(t, e, c, name, 1) {
		t.Fatalf("stopped 10s after %s", what)
	}
	if runningAfter(t, e, c, name, 1) {
		t.Errorf("still running 20s after %s", what)
	}
}

func TestTTLDeletesVMWhateverItDoes(t *testing.T) {
	e, c, g := lifetimeEnv(t)
	start := c.Now()
	create(t, e, vm.CreateRequest{Name: "brief", TTL: "30s"})
	create(t, e, vm.CreateRequest{Name: "parked", TTL: "30s", NoStart: true})
	create(t, e, vm.CreateRequest{Name: "stays"})
	g.set("brief", 3) // busy
	if in := mustGet(t, e, "brief"); !in.ExpiresAt.Equal(start.Add(30 * time.Second)) {
		t.Fatalf("expires at %s, want %s", in.ExpiresAt, start.Add(30*time.Second))
	}
	checkAt(e, c, 29*time.Second)
	for _, n := range []string{"brief", "parked"} {
		if _, err := e.Service.Get(ctx, n); err != nil {
			t.Fatalf("%s gone before its time to live ended: %v", n, err)
		}
	}
	checkAt(e, c, time.Second)
	for _, n := range []string{"brief", "parked"} {
		if _, err := e.Service.Get(ctx, n); !errors.Is(err, vm.ErrNotFound) {
			t.Errorf("%s at its time to live: %v, want it deleted", n, err)
		}
	}
	if _, err := e.Service.Get(ctx, "stays"); err != nil {
		t.Errorf("a VM without a TTL: %v", err)
	}
}

func TestSetTTLExtendsAndRemoves(t *testing.T) {
	e, c, _ := lifetimeEnv(t)
	create(t, e, vm.CreateRequest{Name: "longer", TTL: "30s"})
	create(t, e, vm.CreateRequest{Name: "forever", TTL: "30s"})
	c.advance(20 * time.Second)
	ttl, off := "1m", "off"
	in, err := e.Service.Set(ctx, "longer", vm.SetRequest{TTL: &ttl})
	if err != nil {
		t.Fatal(err)
	}
	if want := c.Now().Add(time.Minute); !in.ExpiresAt.Equal(want) {
		t.Errorf("after vm set --ttl 1m: expires at %s, want %s", in.ExpiresAt, want)
	}
	if _, err := e.Service.Set(ctx, "forever", vm.SetRequest{TTL: &off}); err != nil {
		t.Fatal(err)
	}
	checkAt(e, c, 20*time.Second) // 40s after the create
	if _, err := e.Service.Get(ctx, "longer"); err != nil {
		t.Fatalf("deleted at its old time to live: %v", err)
	}
	checkAt(e, c, 40*time.Second)
	if _, err := e.Service.Get(ctx, "longer"); !errors.Is(err, vm.ErrNotFound) {
		t.Errorf("at its new time to live: %v, want it deleted", err)
	}
	if _, err := e.Service.Get(ctx, "forever"); err != nil {
		t.Errorf("TTL off: %v", err)
	}
	bad := "soon"
	if _, err := e.Service.Set(ctx, "forever", vm.SetRequest{TTL: &bad}); !errors.Is(err, vm.ErrBadRequest) {
		t.Errorf("vm set --ttl soon: %v, want a bad request", err)
	}
}

func TestLifetimeFlagsValidated(t *testing.T) {
	e, _, _ := lifetimeEnv(t)
	for _, req := range []vm.CreateRequest{
		{AutoStop: "soon"}, {AutoStop: "500ms"}, {TTL: "-1h"}, {TTL: "100000h"},
	} {
		if _, err := e.Service.Create(ctx, req, nil); !errors.Is(err, vm.ErrBadRequest) {
			t.Errorf("create --auto-stop %q --ttl %q: %v, want a bad request", req.AutoStop, req.TTL, err)
		}
	}
	vms, _ := e.Service.List(ctx)
	if len(vms) != 0 {
		t.Errorf("%d VMs made from bad requests", len(vms))
	}
}

// waitClosed waits until no connection is open through vmID's forwards.
func waitClosed(t *testing.T, m *forward.Manager, vmID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := poll.Until(ctx, 5*time.Millisecond, nil, func(context.Context) (bool, error) {
		open, _ := m.Use(vmID)
		return open == 0, nil
	})
	if err != nil {
		t.Fatalf("connections through the forward still open: %v", err)
	}
}

// echo listens on loopback and answers each line with itself.
func echo(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// dialEcho connects through addr and waits for one echoed line, so that
// the forward has counted the connection.
func dialEcho(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "hi\n")
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	return c
}
