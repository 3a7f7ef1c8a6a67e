package daemon

import (
	"context"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"banger/internal/dns"
	"banger/internal/sshconfig"
	"banger/internal/vm"
)

// names serves the .vm zone and keeps banger's ssh config current. It
// subscribes to the VM service's events (see handle).
type names struct {
	vms     *vm.Service
	log     *slog.Logger
	sshPath string
	// proxy is the ssh ProxyCommand for a VM reached over its agent.
	proxy func(vm string) string
	srv   *dns.Server
	run   dns.Runner

	mu       sync.Mutex
	resolved bool // the bridge's resolved routing is set
}

// cliProxy returns the ProxyCommand builder for banger's ssh config: the
// banger CLI beside this daemon's binary, talking to socket.
func cliProxy(socket string) func(vm string) string {
	self, err := os.Executable()
	if err != nil {
		return nil
	}
	bin := filepath.Join(filepath.Dir(self), "banger")
	return func(vm string) string { return sshconfig.ProxyCommand(bin, socket, vm) }
}

// startDNS serves <vm>.vm on addr. Failing to bind is logged, not fatal:
// VMs work without names.
func (n *names) startDNS(ctx context.Context, addr string) {
	if addr == "" || addr == "off" {
		return
	}
	n.srv = &dns.Server{Addr: addr, Log: n.log, Lookup: func(name string) (netip.Addr, bool) {
		return n.vms.LookupIP(context.Background(), name)
	}}
	if err := n.srv.Start(ctx); err != nil {
		n.log.Warn("the .vm DNS server could not start; NAME.vm will not resolve", "addr", addr, "err", err)
		n.srv = nil
		return
	}
	n.log.Info("serving the .vm zone", "addr", n.srv.LocalAddr().String())
}

// handle reacts to one event of the VM service: a ready bridge gets the .vm
// zone routed to it, and any change to a VM rewrites the ssh config.
func (n *names) handle(ev vm.Event) {
	ctx := context.Background()
	if ev.Kind == vm.BridgeReady {
		n.bridgeReady(ctx, ev.Bridge)
		return
	}
	n.writeSSHConfig(ctx)
}

// bridgeReady routes the .vm zone to our server through systemd-resolved,
// once per daemon lifetime, where resolved runs (see docs/dns.md).
func (n *names) bridgeReady(ctx context.Context, bridge string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.resolved || n.srv == nil || !dns.ResolvedActive(ctx, n.run) {
		return
	}
	if err := dns.ConfigureResolved(ctx, n.run, bridge, n.srv.LocalAddr().String()); err != nil {
		n.log.Warn("route .vm through systemd-resolved", "err", err)
		return
	}
	n.resolved = true
}

// writeSSHConfig rewrites banger's ssh config with a block per VM.
func (n *names) writeSSHConfig(ctx context.Context) {
	infos, err := n.vms.List(ctx)
	if err != nil {
		n.log.Warn("ssh config", "err", err)
		return
	}
	entries := make([]sshconfig.Entry, 0, len(infos))
	for _, in := range infos {
		ip, err := netip.ParseAddr(in.IP)
		if err != nil {
			continue
		}
		e := sshconfig.Entry{Name: in.Name, ID: in.ID, IP: ip}
		if in.ViaAgent && n.proxy != nil {
			e.ProxyCommand = n.proxy(in.Name)
		}
		entries = append(entries, e)
	}
	if err := sshconfig.Write(n.sshPath, sshconfig.Render(entries, n.vms.Guest.KeyPath, n.vms.Guest.KnownHosts.Path)); err != nil {
		n.log.Warn("ssh config", "err", err)
	}
}
