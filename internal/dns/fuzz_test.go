package dns

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzAnswer feeds arbitrary packets to the handler. Whatever they hold,
// it does not panic; the reply packs, carries the query's id, and answers
// only inside the zone: an A record only for a VM that exists, with its
// address.
func FuzzAnswer(f *testing.F) {
	q := new(dns.Msg).SetQuestion("web1.vm.", dns.TypeA)
	seed, err := q.Pack()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	vmIP := netip.MustParseAddr("172.30.0.2")
	s := &Server{Lookup: func(name string) (netip.Addr, bool) { return vmIP, name == "web1" }}
	f.Fuzz(func(t *testing.T, packet []byte) {
		req := new(dns.Msg)
		if req.Unpack(packet) != nil {
			return
		}
		resp := s.answer(req)
		if _, err := resp.Pack(); err != nil {
			t.Fatalf("reply to %v does not pack: %v", req, err)
		}
		if resp.Id != req.Id {
			t.Fatalf("reply id %d, query id %d", resp.Id, req.Id)
		}
		for _, rr := range append(resp.Answer, resp.Ns...) {
			if name := dns.CanonicalName(rr.Header().Name); name != Zone && !strings.HasSuffix(name, "."+Zone) {
				t.Fatalf("record %v is outside the zone", rr)
			}
			if a, ok := rr.(*dns.A); ok && (dns.CanonicalName(a.Hdr.Name) != "web1.vm." || !a.A.Equal(vmIP.AsSlice())) {
				t.Fatalf("A record %v for no VM", a)
			}
		}
	})
}
