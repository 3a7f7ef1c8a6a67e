package guestssh

import (
	"context"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"golang.org/x/crypto/ssh"
)

// directTCPIP answers a "direct-tcpip" channel by connecting to a port on
// the guest's loopback: the host reaches guest services without any
// network between them. The agent's own name (NestedHost) gets a
// nested SSH connection (see serveNested). Other addresses are refused.
func (s *Server) directTCPIP(ctx context.Context, nc ssh.NewChannel) {
	var m struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if err := ssh.Unmarshal(nc.ExtraData(), &m); err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, "malformed direct-tcpip request")
		return
	}
	if isNested(m.Host, m.Port) {
		s.serveNested(ctx, nc)
		return
	}
	host, ok := loopbackHost(m.Host)
	if !ok || m.Port == 0 || m.Port > 65535 {
		_ = nc.Reject(ssh.Prohibited, "only guest loopback ports can be reached, not "+m.Host)
		return
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(int(m.Port))))
	if err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	ch, reqs, err := nc.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	go ssh.DiscardRequests(reqs)
	splice(ch, c.(*net.TCPConn))
}

// splice copies both ways, passing each side's EOF on as a half close.
func splice(ch ssh.Channel, c *net.TCPConn) {
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = io.Copy(c, ch)
		_ = c.CloseWrite()
	})
	_, _ = io.Copy(ch, c)
	_ = ch.CloseWrite()
	wg.Wait()
}

// loopbackHost maps a requested host to a loopback address to dial.
func loopbackHost(h string) (string, bool) {
	if h == "localhost" {
		return "127.0.0.1", true
	}
	a, err := netip.ParseAddr(h)
	if err != nil || !a.IsLoopback() {
		return "", false
	}
	return a.String(), true
}
