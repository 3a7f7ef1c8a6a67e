package dns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"banger/internal/poll"
)

func startServer(ctx context.Context, t *testing.T) (*Server, *atomic.Int64) {
	t.Helper()
	var lookups atomic.Int64
	vms := map[string]netip.Addr{
		"happy-otter": netip.MustParseAddr("172.30.0.2"),
		"web1":        netip.MustParseAddr("172.30.0.3"),
		"six":         netip.MustParseAddr("fd00::5"),
	}
	s := &Server{Addr: "127.0.0.1:0", Lookup: func(name string) (netip.Addr, bool) {
		lookups.Add(1)
		a, ok := vms[name]
		return a, ok
	}}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	t.Logf("dns server bound to %s", s.LocalAddr())
	return s, &lookups
}

func TestServerAnswers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, lookups := startServer(ctx, t)
	addr := s.LocalAddr()
	if !addr.Addr().IsLoopback() || addr.Port() == 0 {
		t.Fatalf("LocalAddr = %s", addr)
	}
	tests := []struct {
		name    string
		qtype   uint16
		rcode   int
		answers []string // RR strings
		soa     bool     // SOA in the authority section
	}{
		{"happy-otter.vm.", dns.TypeA, dns.RcodeSuccess, []string{"happy-otter.vm.\t5\tIN\tA\t172.30.0.2"}, false},
		{"HaPpY-OtTeR.Vm.", dns.TypeA, dns.RcodeSuccess, []string{"HaPpY-OtTeR.Vm.\t5\tIN\tA\t172.30.0.2"}, false},
		{"web1.vm.", dns.TypeAAAA, dns.RcodeSuccess, nil, true},
		{"web1.vm.", dns.TypeMX, dns.RcodeSuccess, nil, true},
		{"web1.vm.", dns.TypeTXT, dns.RcodeSuccess, nil, true},
		{"six.vm.", dns.TypeAAAA, dns.RcodeSuccess, []string{"six.vm.\t5\tIN\tAAAA\tfd00::5"}, false},
		{"six.vm.", dns.TypeA, dns.RcodeSuccess, nil, true},
		{"nosuch.vm.", dns.TypeA, dns.RcodeNameError, nil, true},
		{"nosuch.vm.", dns.TypeAAAA, dns.RcodeNameError, nil, true},
		{"bad_name.vm.", dns.TypeA, dns.RcodeNameError, nil, true},
		{"a.happy-otter.vm.", dns.TypeA, dns.RcodeNameError, nil, true},
		{"vm.", dns.TypeSOA, dns.RcodeSuccess, []string{"vm.\t5\tIN\tSOA\tns.vm. hostmaster.vm. 1 3600 600 86400 5"}, false},
		{"vm.", dns.TypeA, dns.RcodeSuccess, nil, true},
		{"example.com.", dns.TypeA, dns.RcodeRefused, nil, false},
		{"happy-otter.vm.example.", dns.TypeA, dns.RcodeRefused, nil, false},
		{"vmx.", dns.TypeA, dns.RcodeRefused, nil, false},
	}
	for _, network := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: network, Timeout: 5 * time.Second}
		for _, tt := range tests {
			m := new(dns.Msg)
			m.SetQuestion(tt.name, tt.qtype)
			r, _, err := c.ExchangeContext(ctx, m, addr.String())
			if err != nil {
				t.Errorf("%s %s %s: %v", network, tt.name, dns.TypeToString[tt.qtype], err)
				continue
			}
			what := network + " " + tt.name + " " + dns.TypeToString[tt.qtype]
			if r.Rcode != tt.rcode {
				t.Errorf("%s: rcode %s, want %s", what, dns.RcodeToString[r.Rcode], dns.RcodeToString[tt.rcode])
			}
			if r.Authoritative != (tt.rcode != dns.RcodeRefused) {
				t.Errorf("%s: AA=%v", what, r.Authoritative)
			}
			var got []string
			for _, rr := range r.Answer {
				got = append(got, rr.String())
			}
			if !reflect.DeepEqual(got, tt.answers) {
				t.Errorf("%s: answers %q, want %q", what, got, tt.answers)
			}
			hasSOA := len(r.Ns) == 1 && r.Ns[0].Header().Rrtype == dns.TypeSOA
			if hasSOA != tt.soa {
				t.Errorf("%s: authority %v, want SOA=%v", what, r.Ns, tt.soa)
			}
		}
	}
	if lookups.Load() == 0 {
		t.Error("Lookup was never called")
	}
}

func TestServerEDNSAndClose(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, _ := startServer(ctx, t)
	m := new(dns.Msg)
	m.SetQuestion("web1.vm.", dns.TypeA)
	m.SetEdns0(1232, false)
	r, err := dns.Exchange(m, s.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	if r.IsEdns0() == nil || len(r.Answer) != 1 {
		t.Fatalf("EDNS query: %v", r)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	// Both listeners are gone: the port can be bound again.
	pc, err := net.ListenPacket("udp", s.LocalAddr().String())
	if err != nil {
		t.Fatalf("udp port still held after Close: %v", err)
	}
	pc.Close()
	ln, err := net.Listen("tcp", s.LocalAddr().String())
	if err != nil {
		t.Fatalf("tcp port still held after Close: %v", err)
	}
	ln.Close()
}

func TestServerStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, _ := startServer(ctx, t)
	cancel()
	addr := s.LocalAddr().String()
	// The server closes in the background: wait until the port is free.
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	var lastErr error
	err := poll.Until(wctx, 20*time.Millisecond, nil, func(context.Context) (bool, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			lastErr = err
			return false, nil
		}
		ln.Close()
		return true, nil
	})
	if err != nil {
		t.Fatalf("server still listening after its context ended: %v", lastErr)
	}
}

func TestServerStartErrors(t *testing.T) {
	ctx := context.Background()
	if err := (&Server{Addr: "127.0.0.1:0"}).Start(ctx); err == nil {
		t.Error("Start without Lookup: want error")
	}
	s, _ := startServer(ctx, t)
	if err := s.Start(ctx); err == nil || !strings.Contains(err.Error(), "already started") {
		t.Errorf("second Start: %v", err)
	}
	taken := &Server{Addr: s.LocalAddr().String(), Lookup: func(string) (netip.Addr, bool) { return netip.Addr{}, false }}
	if err := taken.Start(ctx); err == nil {
		taken.Close()
		t.Error("Start on a taken address: want error")
	}
	if err := (&Server{}).Close(); err != nil {
		t.Errorf("Close before Start: %v", err)
	}
}

type fakeRun struct {
	calls [][]string
	fail  map[string]error // keyed by the joined argv
}

func (f *fakeRun) run(_ context.Context, name string, args ...string) ([]byte, error) {
	argv := append([]string{name}, args...)
	f.calls = append(f.calls, argv)
	if err := f.fail[strings.Join(argv, " ")]; err != nil {
		return []byte("Failed to set DNS configuration: Link banger0 not known"), err
	}
	return nil, nil
}

func TestConfigureResolved(t *testing.T) {
	ctx := context.Background()
	f := &fakeRun{}
	if err := ConfigureResolved(ctx, f.run, "banger0", "127.0.0.1:5354"); err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"resolvectl", "dns", "banger0", "127.0.0.1:5354"},
		{"resolvectl", "domain", "banger0", "~vm"},
		{"resolvectl", "default-route", "banger0", "no"},
		{"resolvectl", "dnssec", "banger0", "no"},
		{"resolvectl", "dnsovertls", "banger0", "no"},
	}
	if !reflect.DeepEqual(f.calls, want) {
		t.Errorf("ran %q, want %q", f.calls, want)
	}

	f = &fakeRun{}
	if err := ConfigureResolved(ctx, f.run, "banger0", "[::1]:5354"); err != nil || f.calls[0][3] != "[::1]:5354" {
		t.Errorf("IPv6 server: %v, %q", err, f.calls)
	}

	f = &fakeRun{fail: map[string]error{"resolvectl domain banger0 ~vm": errors.New("exit status 1")}}
	err := ConfigureResolved(ctx, f.run, "banger0", "127.0.0.1:5354")
	if err == nil || !strings.Contains(err.Error(), "resolvectl domain banger0 ~vm") || !strings.Contains(err.Error(), "not known") {
		t.Errorf("failing resolvectl: %v", err)
	}
	if len(f.calls) != 2 {
		t.Errorf("kept going after a failure: %q", f.calls)
	}

	for _, bad := range []struct{ link, server string }{
		{"banger0", "127.0.0.1"}, {"banger0", "localhost:53"}, {"", "127.0.0.1:5354"}, {"-h", "127.0.0.1:5354"},
	} {
		f = &fakeRun{}
		if err := ConfigureResolved(ctx, f.run, bad.link, bad.server); err == nil || len(f.calls) != 0 {
			t.Errorf("ConfigureResolved(%q, %q) = %v after running %q", bad.link, bad.server, err, f.calls)
		}
	}
}

func TestRevertResolved(t *testing.T) {
	f := &fakeRun{}
	if err := RevertResolved(context.Background(), f.run, "banger0"); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.calls, [][]string{{"resolvectl", "revert", "banger0"}}) {
		t.Errorf("ran %q", f.calls)
	}
}

func TestResolvedActive(t *testing.T) {
	ctx := context.Background()
	f := &fakeRun{}
	if !ResolvedActive(ctx, f.run) {
		t.Error("active when systemctl succeeds")
	}
	if want := [][]string{{"systemctl", "is-active", "--quiet", "systemd-resolved.service"}}; !reflect.DeepEqual(f.calls, want) {
		t.Errorf("ran %q, want %q", f.calls, want)
	}
	f = &fakeRun{fail: map[string]error{"systemctl is-active --quiet systemd-resolved.service": errors.New("exit status 3")}}
	if ResolvedActive(ctx, f.run) {
		t.Error("inactive when systemctl fails")
	}
}
