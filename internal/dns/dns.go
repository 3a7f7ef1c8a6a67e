// Package dns serves the "vm." zone so that NAME.vm resolves to the address
// of the VM called NAME, and wires the zone into systemd-resolved.
package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"

	"banger/internal/dnsname"
)

// Zone is the zone the server is authoritative for.
const Zone = "vm."

// DefaultAddr is where bangerd serves the zone unless configured otherwise:
// loopback only, unprivileged port. Not 5353: avahi-daemon holds
// 0.0.0.0:5353/udp for mDNS on most desktops, and binding 127.0.0.1:5353
// next to it fails with EADDRINUSE. The address is 127.0.0.1 rather than
// another 127.x address because systemd-resolved exempts only 127.0.0.1
// from binding per-link queries to the link (systemd issue #23010).
const DefaultAddr = "127.0.0.1:5354"

// TTL is the time to live, in seconds, of every answer: VMs come and go
// and get their addresses reused, so caches must forget quickly.
const TTL = 5

// Server answers queries for NAME.vm. Set the fields, then call Start.
type Server struct {
	// Addr is the UDP and TCP address to listen on, DefaultAddr if empty.
	// With port 0 a free port is chosen (the same for UDP and TCP);
	// LocalAddr reports it.
	Addr string
	// Lookup returns the address of the VM with the given name (lowercase,
	// without the zone), or false if there is no such VM. It is called
	// from many goroutines at once.
	Lookup func(name string) (netip.Addr, bool)
	// Log receives one debug line per query and errors; nil discards.
	Log *slog.Logger

	mu    sync.Mutex
	local netip.AddrPort
	srvs  []*dns.Server
	done  chan struct{}
	errs  chan error
	close sync.Once
}

// Start listens on Addr and serves in the background until Close is called
// or ctx ends.
func (s *Server) Start(ctx context.Context) error {
	if s.Lookup == nil {
		return errors.New("dns server: no Lookup function")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srvs != nil {
		return errors.New("dns server: already started")
	}
	addr := s.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	pc, ln, err := listen(ctx, addr)
	if err != nil {
		return err
	}
	s.local = pc.LocalAddr().(*net.UDPAddr).AddrPort()
	h := dns.HandlerFunc(s.serveDNS)
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second}
	s.srvs = []*dns.Server{udp, tcp}
	s.done = make(chan struct{})
	s.errs = make(chan error, 2)
	var started sync.WaitGroup
	for _, srv := range s.srvs {
		started.Add(1)
		srv.NotifyStartedFunc = started.Done
		go func() { s.errs <- srv.ActivateAndServe() }()
	}
	started.Wait()
	s.logger().Info("dns server listening", "zone", Zone, "addr", s.local.String())
	go func() {
		select {
		case <-ctx.Done():
			_ = s.Close()
		case <-s.done:
		}
	}()
	return nil
}

// listen opens UDP and TCP on the same address; with port 0 it retries until
// both get the same free port.
func listen(ctx context.Context, addr string) (net.PacketConn, net.Listener, error) {
	var lc net.ListenConfig
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dns server address %q: %w", addr, err)
	}
	for attempt := 0; ; attempt++ {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns server: %w", err)
		}
		tcpAddr := net.JoinHostPort(host, fmt.Sprint(pc.LocalAddr().(*net.UDPAddr).Port))
		ln, err := lc.Listen(ctx, "tcp", tcpAddr)
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		if port != "0" || attempt >= 10 {
			return nil, nil, fmt.Errorf("dns server: %w", err)
		}
	}
}

// LocalAddr is the address the server listens on, once started.
func (s *Server) LocalAddr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.local
}

// Close stops serving and waits for the listeners to close. It is safe to
// call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	srvs, done, errs := s.srvs, s.done, s.errs
	s.mu.Unlock()
	if srvs == nil {
		return nil
	}
	var err error
	s.close.Do(func() {
		close(done)
		for _, srv := range srvs {
			if e := srv.Shutdown(); e != nil {
				err = errors.Join(err, fmt.Errorf("dns server shutdown: %w", e))
			}
		}
		for range srvs {
			if e := <-errs; e != nil {
				err = errors.Join(err, fmt.Errorf("dns server: %w", e))
			}
		}
	})
	return err
}

func (s *Server) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Log
}

func (s *Server) serveDNS(w dns.ResponseWriter, req *dns.Msg) {
	resp := s.answer(req)
	if err := w.WriteMsg(resp); err != nil {
		s.logger().Warn("dns: write reply", "remote", w.RemoteAddr().String(), "err", err)
	}
}

// answer builds the reply to req.
func (s *Server) answer(req *dns.Msg) *dns.Msg {
	resp := new(dns.Msg)
	if len(req.Question) != 1 {
		return resp.SetRcodeFormatError(req)
	}
	q := req.Question[0]
	resp.SetReply(req)
	resp.RecursionAvailable = false
	if opt := req.IsEdns0(); opt != nil {
		resp.SetEdns0(dns.DefaultMsgSize, false)
	}
	rcode := s.fill(resp, q)
	resp.Rcode = rcode
	resp.Authoritative = rcode != dns.RcodeRefused
	s.logger().Debug("dns query", "name", q.Name, "type", dns.TypeToString[q.Qtype], "rcode", dns.RcodeToString[rcode], "answers", len(resp.Answer))
	return resp
}

// fill adds records for q to resp and returns the rcode.
func (s *Server) fill(resp *dns.Msg, q dns.Question) int {
	name := dns.CanonicalName(q.Name)
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		return dns.RcodeRefused
	}
	if name == Zone {
		if q.Qtype == dns.TypeSOA || q.Qtype == dns.TypeANY {
			resp.Answer = append(resp.Answer, s.soa(q.Name))
		} else {
			resp.Ns = append(resp.Ns, s.soa(Zone))
		}
		return dns.RcodeSuccess
	}
	label, ok := strings.CutSuffix(name, "."+Zone)
	if !ok {
		return dns.RcodeRefused
	}
	if !dnsname.ValidLabel(label) {
		resp.Ns = append(resp.Ns, s.soa(Zone))
		return dns.RcodeNameError
	}
	ip, ok := s.Lookup(label)
	if !ok {
		resp.Ns = append(resp.Ns, s.soa(Zone))
		return dns.RcodeNameError
	}
	hdr := dns.RR_Header{Name: q.Name, Class: dns.ClassINET, Ttl: TTL}
	ip = ip.Unmap()
	switch {
	case ip.Is4() && (q.Qtype == dns.TypeA || q.Qtype == dns.TypeANY):
		hdr.Rrtype = dns.TypeA
		resp.Answer = append(resp.Answer, &dns.A{Hdr: hdr, A: ip.AsSlice()})
	case ip.Is6() && (q.Qtype == dns.TypeAAAA || q.Qtype == dns.TypeANY):
		hdr.Rrtype = dns.TypeAAAA
		resp.Answer = append(resp.Answer, &dns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()})
	default:
		resp.Ns = append(resp.Ns, s.soa(Zone)) // NODATA
	}
	return dns.RcodeSuccess
}

// soa is the zone's SOA record; its minimum TTL bounds negative caching.
func (s *Server) soa(owner string) *dns.SOA {
	return &dns.SOA{
		Hdr:     dns.RR_Header{Name: owner, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: TTL},
		Ns:      "ns." + Zone,
		Mbox:    "hostmaster." + Zone,
		Serial:  1,
		Refresh: 3600, Retry: 600, Expire: 86400,
		Minttl: TTL,
	}
}
