package vmtest

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Links is a fake vm.Links that records taps.
type Links struct {
	mu      sync.Mutex
	taps    map[string]string // tap -> bridge
	bridges map[string]netip.Prefix
	created []string
	deleted []string
	owners  map[string]int
	busy    map[string]bool
}

// Owner returns the uid a tap was created for.
func (l *Links) Owner(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.owners[name]
}

// NewLinks returns fake links with the given taps already present.
func NewLinks(taps ...string) *Links {
	l := &Links{taps: map[string]string{}, bridges: map[string]netip.Prefix{}}
	for _, t := range taps {
		l.taps[t] = ""
	}
	return l
}

// EnsureBridge implements vm.Links.
func (l *Links) EnsureBridge(_ context.Context, name string, gw netip.Prefix) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bridges[name] = gw
	return nil
}

// CreateTap implements vm.Links.
func (l *Links) CreateTap(ctx context.Context, name, bridge string) error {
	return l.CreateTapOwned(ctx, name, bridge, 0)
}

// CreateTapOwned implements vm.Links and records the owner.
func (l *Links) CreateTapOwned(_ context.Context, name, bridge string, uid int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.taps[name]; ok {
		return fmt.Errorf("create tap %s: already exists", name)
	}
	if _, ok := l.bridges[bridge]; !ok {
		return fmt.Errorf("create tap %s: bridge %s does not exist", name, bridge)
	}
	l.taps[name] = bridge
	l.created = append(l.created, name)
	if l.owners == nil {
		l.owners = map[string]int{}
	}
	l.owners[name] = uid
	return nil
}

// DeleteTap implements vm.Links; deleting a missing tap is not an error.
func (l *Links) DeleteTap(_ context.Context, name string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.taps, name)
	l.deleted = append(l.deleted, name)
	return nil
}

// DeleteUnusedTap implements vm.Links; taps marked with Busy are in use.
func (l *Links) DeleteUnusedTap(ctx context.Context, name string) (bool, error) {
	l.mu.Lock()
	_, exists := l.taps[name]
	busy := l.busy[name]
	l.mu.Unlock()
	if !exists || busy {
		return false, nil
	}
	return true, l.DeleteTap(ctx, name)
}

// Busy marks a tap as held open by some process.
func (l *Links) Busy(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy == nil {
		l.busy = map[string]bool{}
	}
	l.busy[name] = true
}

// ListTaps implements vm.Links.
func (l *Links) ListTaps(_ context.Context, prefix string) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for t := range l.taps {
		if strings.HasPrefix(t, prefix) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Has reports whether tap exists.
func (l *Links) Has(tap string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, ok := l.taps[tap]
	return ok
}

// Taps returns the existing taps, sorted.
func (l *Links) Taps() []string {
	out, _ := l.ListTaps(context.Background(), "")
	return out
}

// Created returns every tap created, in order.
func (l *Links) Created() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.created)
}

// Deleted returns every tap deletion, in order.
func (l *Links) Deleted() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.deleted)
}

// NAT is a fake vm.NAT.
type NAT struct {
	mu       sync.Mutex
	enabled  map[netip.Addr]string
	disabled []netip.Addr
}

// NewNAT returns a fake NAT with no rules.
func NewNAT() *NAT { return &NAT{enabled: map[netip.Addr]string{}} }

// Enable implements vm.NAT.
func (n *NAT) Enable(_ context.Context, ip netip.Addr, bridge string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.enabled[ip] = bridge
	return nil
}

// Disable implements vm.NAT.
func (n *NAT) Disable(_ context.Context, ip netip.Addr) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.enabled, ip)
	n.disabled = append(n.disabled, ip)
	return nil
}

// List implements vm.NAT: the addresses with NAT on, sorted.
func (n *NAT) List(context.Context) ([]netip.Addr, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := slices.Collect(maps.Keys(n.enabled))
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// Enabled reports whether NAT is on for ip.
func (n *NAT) Enabled(ip string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.enabled[netip.MustParseAddr(ip)]
	return ok
}

// Disabled returns every address NAT was disabled for, in order.
func (n *NAT) Disabled() []netip.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.disabled)
}

// Disks is a fake vm.Disks that creates empty files and records what it
// was asked for.
type Disks struct {
	mu         sync.Mutex
	Err        error
	WorkSizes  map[string]int64  // work disk path -> size
	SeedKeys   map[string]string // work disk path -> seeded authorized_keys
	SeedLabels map[string]string
	// SeedHostKeys: work disk path -> the seeded SSH host key file.
	SeedHostKeys map[string][]byte
	// SeedGitConfigs: work disk path -> the seeded ~/.gitconfig.
	SeedGitConfigs map[string]string
}

// NewDisks returns fake disks.
func NewDisks() *Disks {
	return &Disks{WorkSizes: map[string]int64{}, SeedKeys: map[string]string{}, SeedLabels: map[string]string{}, SeedHostKeys: map[string][]byte{}, SeedGitConfigs: map[string]string{}}
}

// WorkDisk implements vm.Disks.
func (d *Disks) WorkDisk(_ context.Context, path string, size int64, seed, label string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.Err != nil {
		return d.Err
	}
	key, err := os.ReadFile(filepath.Join(seed, ".ssh", "authorized_keys"))
	if err != nil {
		return err
	}
	d.WorkSizes[path] = size
	d.SeedKeys[path] = string(key)
	d.SeedLabels[path] = label
	if b, err := os.ReadFile(filepath.Join(seed, ".banger", "ssh_host_ed25519_key")); err == nil {
		d.SeedHostKeys[path] = b
	}
	if b, err := os.ReadFile(filepath.Join(seed, ".gitconfig")); err == nil {
		d.SeedGitConfigs[path] = string(b)
	}
	return os.WriteFile(path, nil, 0o600)
}
