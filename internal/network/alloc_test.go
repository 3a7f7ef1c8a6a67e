package network

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParsePool(t *testing.T) {
	tests := []struct {
		cidr    string
		gateway string
		wantErr string
	}{
		{cidr: "172.30.0.0/24", gateway: "172.30.0.1"},
		{cidr: " 10.9.0.0/16 ", gateway: "10.9.0.1"},
		{cidr: "192.168.7.8/29", gateway: "192.168.7.9"},
		{cidr: "", wantErr: "want an IPv4 network such as 172.30.0.0/24"},
		{cidr: "x", wantErr: "want an IPv4 network such as 172.30.0.0/24"},
		{cidr: "172.30.0.1", wantErr: "want an IPv4 network"},
		{cidr: "fd00::/64", wantErr: "want an IPv4 network"},
		{cidr: "::ffff:172.30.0.0/120", wantErr: "want an IPv4 network"},
		{cidr: "10.0.0.0/8", wantErr: "prefix length /8 is out of range; want /16 to /29"},
		{cidr: "10.0.0.0/30", wantErr: "prefix length /30 is out of range"},
		{cidr: "172.30.0.1/24", wantErr: "host bits are set; did you mean 172.30.0.0/24?"},
	}
	for _, tt := range tests {
		t.Run(tt.cidr, func(t *testing.T) {
			p, err := ParsePool(tt.cidr)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParsePool(%q) error = %v, want it to contain %q", tt.cidr, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParsePool(%q): %v", tt.cidr, err)
			}
			if got := p.Gateway().String(); got != tt.gateway {
				t.Errorf("Gateway() = %s, want %s", got, tt.gateway)
			}
			want := netip.MustParsePrefix(strings.TrimSpace(tt.cidr))
			if p.Prefix() != want {
				t.Errorf("Prefix() = %s, want %s", p.Prefix(), want)
			}
			if gp := p.GatewayPrefix(); gp.Addr() != p.Gateway() || gp.Bits() != want.Bits() {
				t.Errorf("GatewayPrefix() = %s, want %s/%d", gp, p.Gateway(), want.Bits())
			}
		})
	}
}

func addrSet(ips ...string) map[netip.Addr]bool {
	m := map[netip.Addr]bool{}
	for _, s := range ips {
		m[netip.MustParseAddr(s)] = true
	}
	return m
}

func TestAllocate(t *testing.T) {
	tests := []struct {
		name    string
		cidr    string
		used    map[netip.Addr]bool
		want    string
		wantErr string
	}{
		{name: "empty /24", cidr: "172.30.0.0/24", used: nil, want: "172.30.0.2"},
		{name: "skips used", cidr: "172.30.0.0/24", used: addrSet("172.30.0.2", "172.30.0.3"), want: "172.30.0.4"},
		{name: "fills hole", cidr: "172.30.0.0/24", used: addrSet("172.30.0.2", "172.30.0.4", "172.30.0.5"), want: "172.30.0.3"},
		{name: "ignores foreign addresses", cidr: "172.30.0.0/24", used: addrSet("10.0.0.2"), want: "172.30.0.2"},
		{name: "used gateway is irrelevant", cidr: "172.30.0.0/24", used: addrSet("172.30.0.1"), want: "172.30.0.2"},
		{name: "/29 first", cidr: "10.1.2.8/29", used: nil, want: "10.1.2.10"},
		{name: "/29 last", cidr: "10.1.2.8/29", used: addrSet("10.1.2.10", "10.1.2.11", "10.1.2.12", "10.1.2.13"), want: "10.1.2.14"},
		{
			name: "/29 exhausted", cidr: "10.1.2.8/29",
			used:    addrSet("10.1.2.10", "10.1.2.11", "10.1.2.12", "10.1.2.13", "10.1.2.14"),
			wantErr: "pool 10.1.2.8/29 is exhausted (5 VM addresses in use); widen `cidr` in the config",
		},
		{name: "/16 crosses octet", cidr: "10.9.0.0/16", used: func() map[netip.Addr]bool {
			m := map[netip.Addr]bool{}
			for ip := netip.MustParseAddr("10.9.0.2"); ip != netip.MustParseAddr("10.9.1.0"); ip = ip.Next() {
				m[ip] = true
			}
			return m
		}(), want: "10.9.1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePool(tt.cidr)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Allocate(tt.used)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Allocate error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Allocate: %v", err)
			}
			if got.String() != tt.want {
				t.Errorf("Allocate = %s, want %s", got, tt.want)
			}
			again, _ := p.Allocate(tt.used)
			if again != got {
				t.Errorf("Allocate is not deterministic: %s then %s", got, again)
			}
		})
	}
}

func TestAllocateWholePool(t *testing.T) {
	p, err := ParsePool("172.30.0.0/24")
	if err != nil {
		t.Fatal(err)
	}
	used := map[netip.Addr]bool{}
	for {
		ip, err := p.Allocate(used)
		if err != nil {
			break
		}
		if !p.Contains(ip) {
			t.Fatalf("allocated %s, which is not a VM address of %s", ip, p)
		}
		used[ip] = true
	}
	if len(used) != 253 {
		t.Fatalf("allocated %d addresses from a /24, want 253", len(used))
	}
	for _, s := range []string{"172.30.0.0", "172.30.0.1", "172.30.0.255"} {
		if used[netip.MustParseAddr(s)] {
			t.Errorf("allocated reserved address %s", s)
		}
	}
}

func TestAllocateZeroPool(t *testing.T) {
	if _, err := (Pool{}).Allocate(nil); err == nil {
		t.Fatal("Allocate on zero Pool succeeded, want error")
	}
}

func TestMACFor(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"172.30.0.2", "52:54:00:1e:00:02"},
		{"10.9.255.254", "52:54:00:09:ff:fe"},
		{"192.168.1.10", "52:54:00:a8:01:0a"},
		{"::ffff:192.168.1.10", "52:54:00:a8:01:0a"},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			if got := MACFor(netip.MustParseAddr(tt.ip)); got != tt.want {
				t.Errorf("MACFor(%s) = %s, want %s", tt.ip, got, tt.want)
			}
		})
	}
}

func TestTapName(t *testing.T) {
	tests := []struct {
		id, want, wantErr string
	}{
		{id: "0123456789abcdef", want: "bgtap-01234567"},
		{id: "abcdefgh", want: "bgtap-abcdefgh"},
		{id: "abc", want: "bgtap-abc"},
		{id: "", wantErr: "empty"},
		{id: "ABCDEFGH", wantErr: "only a-z and 0-9"},
		{id: "abc-defgh", wantErr: "only a-z and 0-9"},
		{id: "abcdefgh/x", wantErr: "only a-z and 0-9"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			got, err := TapName(tt.id)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("TapName(%q) = %q, %v; want error containing %q", tt.id, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("TapName(%q): %v", tt.id, err)
			}
			if got != tt.want {
				t.Errorf("TapName(%q) = %q, want %q", tt.id, got, tt.want)
			}
			if err := ValidateIfName(got); err != nil {
				t.Errorf("TapName(%q) = %q is not a valid interface name: %v", tt.id, got, err)
			}
		})
	}
}

func TestValidateIfName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"banger0", true},
		{"br-vm_1.2", true},
		{"abcdefghijklmno", true},
		{"abcdefghijklmnop", false},
		{"", false},
		{".", false},
		{"..", false},
		{"br 0", false},
		{"br/0", false},
		{"br:0", false},
	}
	for _, tt := range tests {
		if err := ValidateIfName(tt.name); (err == nil) != tt.ok {
			t.Errorf("ValidateIfName(%q) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}
