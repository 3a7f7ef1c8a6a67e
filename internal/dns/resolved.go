package dns

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// Runner runs a command given as argv and returns its combined output.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// Exec is the Runner that runs real commands.
func Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// ResolvedCommands is the argv list ConfigureResolved runs: route the vm
// zone (and only it) on link to server, without DNSSEC or DNS-over-TLS,
// which a local authoritative server for a private zone cannot offer.
func ResolvedCommands(link string, server netip.AddrPort) [][]string {
	return [][]string{
		{"resolvectl", "dns", link, server.String()},
		{"resolvectl", "domain", link, "~" + strings.TrimSuffix(Zone, ".")},
		{"resolvectl", "default-route", link, "no"},
		{"resolvectl", "dnssec", link, "no"},
		{"resolvectl", "dnsovertls", link, "no"},
	}
}

// ConfigureResolved tells systemd-resolved to send queries for *.vm to
// server ("127.0.0.1:5354") through link (banger's bridge). resolved keeps
// these settings only while the link exists and until it restarts, so
// call it again after creating the bridge and whenever bangerd starts.
func ConfigureResolved(ctx context.Context, run Runner, link, server string) error {
	ap, err := netip.ParseAddrPort(server)
	if err != nil {
		return fmt.Errorf("configure systemd-resolved: dns server %q: %w", server, err)
	}
	if link == "" || strings.HasPrefix(link, "-") {
		return fmt.Errorf("configure systemd-resolved: bad link name %q", link)
	}
	for _, argv := range ResolvedCommands(link, ap) {
		if out, err := run(ctx, argv[0], argv[1:]...); err != nil {
			return fmt.Errorf("configure systemd-resolved: %s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// RevertResolved drops everything ConfigureResolved set on link.
func RevertResolved(ctx context.Context, run Runner, link string) error {
	if out, err := run(ctx, "resolvectl", "revert", link); err != nil {
		return fmt.Errorf("revert systemd-resolved settings of %s: %w: %s", link, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ResolvedActive reports whether systemd-resolved is running, i.e. whether
// ConfigureResolved can work.
func ResolvedActive(ctx context.Context, run Runner) bool {
	_, err := run(ctx, "systemctl", "is-active", "--quiet", "systemd-resolved.service")
	return err == nil
}
