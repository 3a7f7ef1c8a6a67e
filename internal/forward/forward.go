// Package forward forwards TCP ports on the host to ports of a guest. The
// daemon holds the listeners; a forward lives until it is removed or its VM
// stops.
package forward

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Spec is one forward as a user writes it: [HOST_ADDR:]HOST_PORT:GUEST_PORT.
type Spec struct {
	HostAddr  netip.Addr
	HostPort  uint16
	GuestPort uint16
}

// ParseSpec parses [HOST_ADDR:]HOST_PORT:GUEST_PORT; the host address
// defaults to 127.0.0.1. HOST_PORT 0 picks a free port.
func ParseSpec(s string) (Spec, error) {
	bad := func(why string) (Spec, error) {
		return Spec{}, fmt.Errorf("forward %q: %s; write [HOST_ADDR:]HOST_PORT:GUEST_PORT, e.g. 8080:80 or 0.0.0.0:8080:80", s, why)
	}
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return bad("missing ':'")
	}
	guest, err := parsePort(s[i+1:], false)
	if err != nil {
		return bad("guest port: " + err.Error())
	}
	rest := s[:i]
	sp := Spec{HostAddr: netip.MustParseAddr("127.0.0.1"), GuestPort: guest}
	if j := strings.LastIndex(rest, ":"); j >= 0 {
		a, err := netip.ParseAddr(strings.Trim(rest[:j], "[]"))
		if err != nil {
			return bad("host address: " + err.Error())
		}
		sp.HostAddr = a
		rest = rest[j+1:]
	}
	if sp.HostPort, err = parsePort(rest, true); err != nil {
		return bad("host port: " + err.Error())
	}
	return sp, nil
}

func parsePort(s string, zeroOK bool) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || (n == 0 && !zeroOK) {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", s)
	}
	return uint16(n), nil
}

// Forward is an active forward.
type Forward struct {
	ID      int
	VMID    string
	VMName  string
	Listen  netip.AddrPort // the bound host address
	Target  netip.AddrPort // guest address and port
	Started time.Time
	ln      net.Listener
	cancel  context.CancelFunc
	// open and accepted count the connections through it now and ever;
	// guarded by the manager's lock (see Use).
	open, accepted int
}

// Manager holds the active forwards.
type Manager struct {
	Log *slog.Logger

	mu     sync.Mutex
	next   int
	active map[int]*Forward
}

// Add binds the host side and starts forwarding to target.
func (m *Manager) Add(vmID, vmName string, sp Spec, target netip.Addr) (*Forward, error) {
	ln, err := net.Listen("tcp", netip.AddrPortFrom(sp.HostAddr, sp.HostPort).String())
	if err != nil {
		return nil, fmt.Errorf("forward to %s: listen: %w", vmName, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &Forward{
		VMID: vmID, VMName: vmName, Target: netip.AddrPortFrom(target, sp.GuestPort), Started: time.Now().UTC(),
		Listen: ln.Addr().(*net.TCPAddr).AddrPort(), ln: ln, cancel: cancel,
	}
	m.mu.Lock()
	if m.active == nil {
		m.active = map[int]*Forward{}
	}
	m.next++
	f.ID = m.next
	m.active[f.ID] = f
	m.mu.Unlock()
	go m.serve(ctx, f)
	m.log().Info("forward started", "vm", vmName, "listen", f.Listen, "target", f.Target)
	return f, nil
}

func (m *Manager) log() *slog.Logger {
	if m.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Log
}

func (m *Manager) serve(ctx context.Context, f *Forward) {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				m.log().Warn("forward accept", "listen", f.Listen, "err", err)
			}
			return
		}
		m.count(f, 1)
		go func() {
			defer m.count(f, -1)
			m.pipe(ctx, f, c)
		}()
	}
}

// count records a connection through f opening (+1) or ending (-1).
func (m *Manager) count(f *Forward, delta int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f.open += delta
	if delta > 0 {
		f.accepted++
	}
}

// Use says how the forwards to a VM are used: the connections open
// through them now, and how many they have accepted since they began.
// A caller that samples it sees use between samples as a change of
// accepted (idle detection does).
func (m *Manager) Use(vmID string) (open, accepted int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.active {
		if f.VMID == vmID {
			open += f.open
			accepted += f.accepted
		}
	}
	return open, accepted
}

func (m *Manager) pipe(ctx context.Context, f *Forward, c net.Conn) {
	defer c.Close()
	d := net.Dialer{Timeout: 10 * time.Second}
	g, err := d.DialContext(ctx, "tcp", f.Target.String())
	if err != nil {
		m.log().Info("forward dial", "target", f.Target, "err", err)
		return
	}
	defer g.Close()
	stop := context.AfterFunc(ctx, func() { c.Close(); g.Close() })
	defer stop()
	done := make(chan struct{}, 2)
	copyHalf := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go copyHalf(g, c)
	go copyHalf(c, g)
	<-done
	<-done
}

// Remove stops one forward; open connections through it are closed.
func (m *Manager) Remove(id int) bool {
	m.mu.Lock()
	f, ok := m.active[id]
	delete(m.active, id)
	m.mu.Unlock()
	if ok {
		f.ln.Close()
		f.cancel()
		m.log().Info("forward stopped", "vm", f.VMName, "listen", f.Listen)
	}
	return ok
}

// RemoveVM stops every forward to a VM (when it stops or is deleted).
func (m *Manager) RemoveVM(vmID string) {
	for _, f := range m.List("") {
		if f.VMID == vmID {
			m.Remove(f.ID)
		}
	}
}

// List returns the active forwards, of one VM when vmID is set.
func (m *Manager) List(vmID string) []Forward {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Forward
	for _, f := range m.active {
		if vmID == "" || f.VMID == vmID {
			out = append(out, *f)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
