package forward

import (
	"bufio"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseSpec(t *testing.T) {
	tests := []struct {
		in      string
		want    Spec
		wantErr string
	}{
		{in: "8080:80", want: Spec{netip.MustParseAddr("127.0.0.1"), 8080, 80}},
		{in: "0.0.0.0:8080:80", want: Spec{netip.MustParseAddr("0.0.0.0"), 8080, 80}},
		{in: "[::1]:9000:22", want: Spec{netip.MustParseAddr("::1"), 9000, 22}},
		{in: "0:80", want: Spec{netip.MustParseAddr("127.0.0.1"), 0, 80}},
		{in: "80", wantErr: "missing ':'"},
		{in: "8080:0", wantErr: "guest port"},
		{in: "8080:70000", wantErr: "guest port"},
		{in: "x:80", wantErr: "host port"},
		{in: "nothost:8080:80", wantErr: "host address"},
	}
	for _, tt := range tests {
		got, err := ParseSpec(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "HOST_PORT:GUEST_PORT") {
				t.Errorf("%q: err %v, want %q with usage", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

// echoServer answers each line with "echo: " + line.
func echoServer(t *testing.T) (netip.AddrPort, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					io.WriteString(c, "echo: "+sc.Text()+"\n")
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort(), func() { ln.Close() }
}

func TestForwardCarriesTrafficAndStops(t *testing.T) {
	target, stop := echoServer(t)
	defer stop()
	m := &Manager{}
	f, err := m.Add("vm1", "one", Spec{HostAddr: netip.MustParseAddr("127.0.0.1"), GuestPort: target.Port()}, target.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", f.Listen.String(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "ping\n")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "echo: ping\n" {
		t.Fatalf("through the forward: %q, %v", line, err)
	}
	if l := m.List("vm1"); len(l) != 1 || l[0].Target != target {
		t.Fatalf("list = %+v", l)
	}
	if l := m.List("other"); len(l) != 0 {
		t.Fatalf("list of other vm = %+v", l)
	}
	m.RemoveVM("vm1")
	// The open connection is closed and the port no longer accepts.
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("connection through a removed forward still open")
	}
	if c2, err := net.DialTimeout("tcp", f.Listen.String(), time.Second); err == nil {
		c2.Close()
		t.Error("removed forward still accepts")
	}
	if len(m.List("")) != 0 {
		t.Error("forward still listed")
	}
}

func TestForwardBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).AddrPort().Port()
	m := &Manager{}
	if _, err := m.Add("vm", "v", Spec{HostAddr: netip.MustParseAddr("127.0.0.1"), HostPort: port, GuestPort: 80}, netip.MustParseAddr("127.0.0.1")); err == nil {
		t.Fatal("forward on a busy port succeeded")
	}
	if len(m.List("")) != 0 {
		t.Error("failed forward listed")
	}
}
