package network

import (
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// testNetns is a fresh network namespace the calling test's OS thread has
// been moved into; h is a netlink handle bound to it.
type testNetns struct {
	ns netns.NsHandle
	h  *netlink.Handle
}

// enterNetns locks the test goroutine to its OS thread, moves that thread
// into a new network namespace and restores it when the test ends, so
// nothing the test does touches the host namespace. Tests that use it must
// not create links from other goroutines (t.Run starts new goroutines).
func enterNetns(t *testing.T) testNetns {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("needs /dev/net/tun: %v", err)
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		t.Fatalf("get current netns: %v", err)
	}
	ns, err := netns.New() // also switches this thread into it
	if err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		t.Skipf("cannot create a network namespace here: %v", err)
	}
	t.Cleanup(func() {
		if err := netns.Set(orig); err != nil {
			// Keep the thread locked: it dies with the goroutine instead of
			// running other code in the test namespace.
			t.Errorf("restore netns: %v", err)
			return
		}
		orig.Close()
		ns.Close()
		runtime.UnlockOSThread()
	})
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink handle in test netns: %v", err)
	}
	t.Cleanup(h.Close)
	return testNetns{ns: ns, h: h}
}
