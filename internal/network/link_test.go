package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"banger/internal/poll"
)

const testBridge = "bgbr-test"

func bridgeAddrs(t *testing.T, h *netlink.Handle, name string) []string {
	t.Helper()
	link, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("look up %s: %v", name, err)
	}
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		t.Fatalf("list addresses of %s: %v", name, err)
	}
	var out []string
	for _, a := range addrs {
		out = append(out, a.IPNet.String())
	}
	return out
}

func TestEnsureBridgeIdempotent(t *testing.T) {
	tn := enterNetns(t)
	ctx := context.Background()
	l := Links{H: tn.h}
	gw := netip.MustParsePrefix("172.30.0.1/24")

	for i := range 2 {
		if err := l.EnsureBridge(ctx, testBridge, gw); err != nil {
			t.Fatalf("EnsureBridge call %d: %v", i+1, err)
		}
	}
	link, err := tn.h.LinkByName(testBridge)
	if err != nil {
		t.Fatalf("bridge missing: %v", err)
	}
	if link.Type() != "bridge" {
		t.Errorf("link type = %s, want bridge", link.Type())
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("bridge is not up")
	}
	if got := bridgeAddrs(t, tn.h, testBridge); !slices.Equal(got, []string{"172.30.0.1/24"}) {
		t.Errorf("bridge addresses = %v, want [172.30.0.1/24]", got)
	}
	got, err := l.BridgeAddrs(ctx, testBridge)
	if err != nil || !slices.Equal(got, []netip.Prefix{gw}) {
		t.Errorf("BridgeAddrs = %v, %v; want [%s]", got, err, gw)
	}

	// Same address with another prefix length is a config change we refuse.
	err = l.EnsureBridge(ctx, testBridge, netip.MustParsePrefix("172.30.0.1/16"))
	if err == nil || !strings.Contains(err.Error(), "already has 172.30.0.1/24") {
		t.Errorf("EnsureBridge with changed prefix: err = %v, want 'already has' error", err)
	}
}

func TestEnsureBridgeErrors(t *testing.T) {
	tn := enterNetns(t)
	ctx := context.Background()
	l := Links{H: tn.h}
	gw := netip.MustParsePrefix("172.30.0.1/24")

	addTun(t, tn.h, "notabridge")
	tests := []struct {
		name    string
		bridge  string
		gw      netip.Prefix
		wantErr string
	}{
		{"too long", "abcdefghijklmnop", gw, "at most 15"},
		{"bad char", "br;rm", gw, "only a-z"},
		{"not a bridge", "notabridge", gw, "a tuntap link with that name already exists"},
		{"ipv6 gateway", testBridge, netip.MustParsePrefix("fd00::1/64"), "not an IPv4"},
		{"zero gateway", testBridge, netip.Prefix{}, "not an IPv4"},
	}
	for _, tt := range tests {
		err := l.EnsureBridge(ctx, tt.bridge, tt.gw)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: EnsureBridge(%q, %s) = %v, want error containing %q", tt.name, tt.bridge, tt.gw, err, tt.wantErr)
		}
	}
	if _, err := tn.h.LinkByName(testBridge); err == nil {
		t.Errorf("bridge %s exists after failed calls", testBridge)
	}
	assertTun(t, tn.h, "notabridge")
}

// addTun creates a persistent tun (not tap) device: a link that is not a
// bridge and not one of banger's taps. (This kernel has no dummy driver.)
func addTun(t *testing.T, h *netlink.Handle, name string) {
	t.Helper()
	tun := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: name}, Mode: netlink.TUNTAP_MODE_TUN}
	if err := h.LinkAdd(tun); err != nil {
		t.Fatalf("add tun %s: %v", name, err)
	}
}

func assertTun(t *testing.T, h *netlink.Handle, name string) {
	t.Helper()
	link, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("%s disappeared: %v", name, err)
	}
	if tun, ok := link.(*netlink.Tuntap); !ok || tun.Mode != netlink.TUNTAP_MODE_TUN {
		t.Errorf("%s was replaced by %#v", name, link)
	}
}

func assertTap(t *testing.T, h *netlink.Handle, name, bridge string) {
	t.Helper()
	link, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("tap %s missing: %v", name, err)
	}
	tap, ok := link.(*netlink.Tuntap)
	if !ok {
		t.Fatalf("%s is a %s, want tuntap", name, link.Type())
	}
	if tap.Mode != netlink.TUNTAP_MODE_TAP {
		t.Errorf("mode = %v, want tap", tap.Mode)
	}
	if tap.Flags&netlink.TUNTAP_MULTI_QUEUE != 0 {
		t.Errorf("tap is multi-queue; qemu's default single-queue attach would fail")
	}
	if tap.Owner != 0 {
		t.Errorf("owner = %d, want 0 (root)", tap.Owner)
	}
	if tap.NonPersist {
		t.Errorf("tap is not persistent")
	}
	if tap.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("tap is not up")
	}
	br, err := h.LinkByName(bridge)
	if err != nil {
		t.Fatalf("bridge %s missing: %v", bridge, err)
	}
	if tap.Attrs().MasterIndex != br.Attrs().Index {
		t.Errorf("tap master index = %d, want bridge %s (%d)", tap.Attrs().MasterIndex, bridge, br.Attrs().Index)
	}
}

func TestCreateDeleteTap(t *testing.T) {
	tn := enterNetns(t)
	ctx := context.Background()
	l := Links{H: tn.h}
	if err := l.EnsureBridge(ctx, testBridge, netip.MustParsePrefix("172.30.0.1/24")); err != nil {
		t.Fatal(err)
	}
	name, err := TapName("abcdef0123456789")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.CreateTap(ctx, name, testBridge); err != nil {
		t.Fatalf("CreateTap: %v", err)
	}
	assertTap(t, tn.h, name, testBridge)

	if err := l.CreateTap(ctx, TapPrefix+"second", testBridge); err != nil {
		t.Fatalf("CreateTap second: %v", err)
	}
	// A tap that is not ours must not show up in the listing.
	if err := l.CreateTap(ctx, "othertap", testBridge); err != nil {
		t.Fatalf("CreateTap othertap: %v", err)
	}
	taps, err := l.ListTaps(ctx, TapPrefix)
	if err != nil {
		t.Fatalf("ListTaps: %v", err)
	}
	if want := []string{name, TapPrefix + "second"}; !slices.Equal(taps, want) {
		t.Errorf("ListTaps = %v, want %v", taps, want)
	}

	for i := range 2 {
		if err := l.DeleteTap(ctx, name); err != nil {
			t.Fatalf("DeleteTap call %d: %v", i+1, err)
		}
	}
	if _, err := tn.h.LinkByName(name); !isNotFound(err) {
		t.Errorf("tap %s still present after DeleteTap: %v", name, err)
	}
	taps, err = l.ListTaps(ctx, TapPrefix)
	if err != nil || !slices.Equal(taps, []string{TapPrefix + "second"}) {
		t.Errorf("ListTaps after delete = %v, %v; want [%ssecond]", taps, err, TapPrefix)
	}

	// DeleteTap refuses to remove something that is not a tap.
	err = l.DeleteTap(ctx, testBridge)
	if err == nil || !strings.Contains(err.Error(), "not a tap") {
		t.Errorf("DeleteTap(bridge) = %v, want refusal", err)
	}
	if _, err := tn.h.LinkByName(testBridge); err != nil {
		t.Errorf("bridge gone after refused DeleteTap: %v", err)
	}
}

func TestCreateTapErrors(t *testing.T) {
	tn := enterNetns(t)
	ctx := context.Background()
	l := Links{H: tn.h}

	// Missing bridge: nothing may be left behind.
	err := l.CreateTap(ctx, TapPrefix+"nobr", "nosuchbr")
	if err == nil || !strings.Contains(err.Error(), "look up bridge nosuchbr") {
		t.Errorf("CreateTap without bridge = %v, want lookup error", err)
	}
	if _, err := tn.h.LinkByName(TapPrefix + "nobr"); !isNotFound(err) {
		t.Errorf("tap left behind after failure: %v", err)
	}

	if err := l.EnsureBridge(ctx, testBridge, netip.MustParsePrefix("172.30.0.1/24")); err != nil {
		t.Fatal(err)
	}
	// A foreign link with the requested name is never replaced.
	addTun(t, tn.h, TapPrefix+"tun")
	err = l.CreateTap(ctx, TapPrefix+"tun", testBridge)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("CreateTap over a tun device = %v, want 'already exists'", err)
	}
	assertTun(t, tn.h, TapPrefix+"tun")
	if err := l.CreateTap(ctx, "bad/name", testBridge); err == nil {
		t.Errorf("CreateTap accepted an invalid name")
	}
}

// attachTap opens the persistent tap name the way QEMU's
// `-netdev tap,ifname=` does (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, single queue)
// and returns the open file.
func attachTap(t *testing.T, name string) *os.File {
	t.Helper()
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open /dev/net/tun: %v", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		t.Fatal(err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR | unix.IFF_ONE_QUEUE)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		t.Fatalf("attach to tap %s like qemu does: %v", name, err)
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun")
}

func TestCreateTapLeftover(t *testing.T) {
	tn := enterNetns(t)
	ctx := context.Background()
	l := Links{H: tn.h}
	if err := l.EnsureBridge(ctx, testBridge, netip.MustParsePrefix("172.30.0.1/24")); err != nil {
		t.Fatal(err)
	}
	name := TapPrefix + "left"
	if err := l.CreateTap(ctx, name, testBridge); err != nil {
		t.Fatal(err)
	}
	// Simulate a stale leftover: detached from the bridge and down.
	link, err := tn.h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.h.LinkSetNoMaster(link); err != nil {
		t.Fatal(err)
	}
	if err := tn.h.LinkSetDown(link); err != nil {
		t.Fatal(err)
	}
	if err := l.CreateTap(ctx, name, testBridge); err != nil {
		t.Fatalf("CreateTap over unused leftover: %v", err)
	}
	assertTap(t, tn.h, name, testBridge)
	newLink, _ := tn.h.LinkByName(name)
	if newLink.Attrs().Index == link.Attrs().Index {
		t.Errorf("leftover tap was not recreated (same ifindex %d)", link.Attrs().Index)
	}

	// While something holds the tap open (a running VM), it is not ours to
	// replace.
	f := attachTap(t, name)
	defer f.Close()
	inUse, err := tn.h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if busy, err := tapInUse(tn.h, inUse); err != nil || !busy {
		t.Fatalf("tapInUse on attached tap = %v, %v; want true", busy, err)
	}
	err = l.CreateTap(ctx, name, testBridge)
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("CreateTap over in-use tap = %v, want 'already exists'", err)
	}
	still, err := tn.h.LinkByName(name)
	if err != nil || still.Attrs().Index != inUse.Attrs().Index {
		t.Errorf("in-use tap was replaced: %v", err)
	}
}

// TestTapOpensInQEMU runs QEMU against a tap made by CreateTap, with the
// same netdev options the VMM backend uses, and checks QEMU attached to it.
func TestTapOpensInQEMU(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	tn := enterNetns(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := Links{H: tn.h}
	if err := l.EnsureBridge(ctx, testBridge, netip.MustParsePrefix("172.30.0.1/24")); err != nil {
		t.Fatal(err)
	}
	name := TapPrefix + "qemu"
	if err := l.CreateTap(ctx, name, testBridge); err != nil {
		t.Fatal(err)
	}
	if link, err := tn.h.LinkByName(name); err != nil {
		t.Fatal(err)
	} else if busy, err := tapInUse(tn.h, link); err != nil || busy {
		t.Fatalf("fresh tap reports in use = %v, %v; want false", busy, err)
	}
	// The child is forked from this locked thread, so it runs in the test
	// namespace.
	var stderr strings.Builder
	cmd := exec.CommandContext(ctx, qemu,
		"-machine", "none", "-nodefaults", "-display", "none", "-S",
		"-netdev", "tap,id=net0,ifname="+name+",script=no,downscript=no")
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start qemu: %v", err)
	}
	waitErr := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		waitErr <- cmd.Wait()
		close(exited)
	}()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()

	// Until qemu holds the tap.
	err = poll.Until(ctx, 50*time.Millisecond, exited, func(context.Context) (bool, error) {
		link, err := tn.h.LinkByName(name)
		if err != nil {
			return false, fmt.Errorf("tap vanished: %w", err)
		}
		return tapInUse(tn.h, link)
	})
	switch {
	case errors.Is(err, poll.ErrExited):
		t.Fatalf("qemu exited before attaching to %s: %v\n%s", name, <-waitErr, stderr.String())
	case err != nil:
		t.Fatalf("qemu did not attach to %s: %v\n%s", name, err, stderr.String())
	}
}

func TestDeleteUnusedTap(t *testing.T) {
	tn := enterNetns(t)
	ctx := context.Background()
	l := Links{H: tn.h}
	if err := l.EnsureBridge(ctx, testBridge, netip.MustParsePrefix("172.30.0.1/24")); err != nil {
		t.Fatal(err)
	}
	busy, idle := TapPrefix+"busy", TapPrefix+"idle"
	for _, n := range []string{busy, idle} {
		if err := l.CreateTap(ctx, n, testBridge); err != nil {
			t.Fatal(err)
		}
	}
	f := attachTap(t, busy) // a VM of another daemon holds it open
	defer f.Close()
	if deleted, err := l.DeleteUnusedTap(ctx, busy); err != nil || deleted {
		t.Fatalf("tap in use: deleted=%v err=%v", deleted, err)
	}
	if deleted, err := l.DeleteUnusedTap(ctx, idle); err != nil || !deleted {
		t.Fatalf("unused tap: deleted=%v err=%v", deleted, err)
	}
	if _, err := tn.h.LinkByName(busy); err != nil {
		t.Errorf("the tap in use is gone: %v", err)
	}
	if _, err := tn.h.LinkByName(idle); err == nil {
		t.Error("the unused tap remains")
	}
	if deleted, err := l.DeleteUnusedTap(ctx, idle); err != nil || deleted {
		t.Fatalf("missing tap: deleted=%v err=%v", deleted, err)
	}
}
