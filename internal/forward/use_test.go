package forward

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"banger/internal/poll"
)

// Use counts the connections open through a VM's forwards and those
// accepted ever, which idle detection samples.
func TestUseCountsConnections(t *testing.T) {
	target, stop := echoServer(t)
	defer stop()
	m := &Manager{}
	defer m.RemoveVM("vm1")
	f, err := m.Add("vm1", "one", Spec{HostAddr: netip.MustParseAddr("127.0.0.1"), GuestPort: target.Port()}, target.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if open, accepted := m.Use("vm1"); open != 0 || accepted != 0 {
		t.Fatalf("unused forward: open %d accepted %d, want 0 0", open, accepted)
	}
	c, err := net.DialTimeout("tcp", f.Listen.String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "ping\n")
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if open, accepted := m.Use("vm1"); open != 1 || accepted != 1 {
		t.Errorf("one connection open: open %d accepted %d, want 1 1", open, accepted)
	}
	if open, accepted := m.Use("other"); open != 0 || accepted != 0 {
		t.Errorf("another VM: open %d accepted %d, want 0 0", open, accepted)
	}
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = poll.Until(ctx, 10*time.Millisecond, nil, func(context.Context) (bool, error) {
		open, _ := m.Use("vm1")
		return open == 0, nil
	})
	if err != nil {
		t.Fatalf("the closed connection is still counted open: %v", err)
	}
	if _, accepted := m.Use("vm1"); accepted != 1 {
		t.Errorf("accepted %d after the close, want 1", accepted)
	}
}
