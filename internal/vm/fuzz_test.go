package vm

import (
	"net/netip"
	"strings"
	"testing"

	"banger/internal/agent"
	"banger/internal/dnsname"
	"banger/internal/store"
)

// FuzzValidateName: a VM name that passes is a DNS label (it becomes the
// guest's hostname, its NAME.vm record and an ssh_config Host).
func FuzzValidateName(f *testing.F) {
	f.Add("web1")
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateName(name) == nil && !dnsname.ValidLabel(name) {
			t.Fatalf("ValidateName(%q) passes, but it is no DNS label", name)
		}
	})
}

// FuzzKernelCmdline: for every valid name and IPv4 address, the guest's
// parser reads back exactly the address, gateway and hostname the host
// put on the command line, and nothing else of banger's.
func FuzzKernelCmdline(f *testing.F) {
	f.Add("web1", []byte{172, 30, 0, 2}, uint8(24), []byte{172, 30, 0, 1})
	f.Fuzz(func(t *testing.T, name string, ip []byte, bits uint8, gw []byte) {
		addr, ok1 := netip.AddrFromSlice(ip)
		gwAddr, ok2 := netip.AddrFromSlice(gw)
		if ValidateName(name) != nil || !ok1 || !ok2 || !addr.Is4() || !gwAddr.Is4() || bits > 32 {
			return
		}
		prefix := netip.PrefixFrom(addr, int(bits))
		line := kernelCmdline(store.VM{Name: name}, prefix, gwAddr)
		cfg, err := agent.ParseCmdline(line)
		if err != nil {
			t.Fatalf("ParseCmdline(%q): %v", line, err)
		}
		if cfg.Addr != prefix || cfg.Gateway != gwAddr || cfg.Hostname != name || len(cfg.DNS) != 0 {
			t.Fatalf("ParseCmdline(%q) = %+v; want %s via %s named %s", line, cfg, prefix, gwAddr, name)
		}
		if n := strings.Count(line, "banger."); n != 3 {
			t.Fatalf("%q holds %d banger.* parameters, want 3", line, n)
		}
	})
}
