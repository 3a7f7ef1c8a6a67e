package vm

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// overlapLinks fails a bridge set-up that overlaps another, as two set-ups
// of one new bridge on a real host did (one rolled the bridge back under
// the other).
type overlapLinks struct {
	inside, overlaps atomic.Int32
}

func (l *overlapLinks) EnsureBridge(context.Context, string, netip.Prefix) error {
	if l.inside.Add(1) > 1 {
		l.overlaps.Add(1)
	}
	defer l.inside.Add(-1)
	time.Sleep(5 * time.Millisecond)
	return nil
}
func (l *overlapLinks) CreateTapOwned(context.Context, string, string, int) error { return nil }
func (l *overlapLinks) DeleteTap(context.Context, string) error                   { return nil }
func (l *overlapLinks) ListTaps(context.Context, string) ([]string, error)        { return nil, nil }
func (l *overlapLinks) DeleteUnusedTap(context.Context, string) (bool, error)     { return false, nil }

type fixedPool struct{ p netip.Prefix }

func (f fixedPool) Prefix() netip.Prefix        { return f.p }
func (f fixedPool) Gateway() netip.Addr         { return f.p.Addr() }
func (f fixedPool) GatewayPrefix() netip.Prefix { return f.p }
func (f fixedPool) Allocate(map[netip.Addr]bool) (netip.Addr, error) {
	return netip.Addr{}, fmt.Errorf("not used")
}

// TestAttachSetsUpTheBridgeOneAtATime: VMs started at once on a new host
// (two sandboxes on a fresh node) set the bridge up one after the other.
func TestAttachSetsUpTheBridgeOneAtATime(t *testing.T) {
	links := &overlapLinks{}
	n := &HostNet{Links: links, Pool: fixedPool{netip.MustParsePrefix("172.16.0.1/24")}, Bridge: "br-test"}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.attach(context.Background(), attachment{Tap: fmt.Sprintf("tap%d", i)}, 0); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if o := links.overlaps.Load(); o != 0 {
		t.Errorf("%d bridge set-ups overlapped another", o)
	}
}
