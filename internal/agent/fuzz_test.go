package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strconv"
	"testing"
	"time"
)

// FuzzClientHello plays a hostile agent: after the host's hello request
// it sends arbitrary bytes ($ID in them becomes the request's id) and
// hangs up. The host's decoder does not panic or hang, and it accepts a
// reply only when one line really is a response to its request.
func FuzzClientHello(f *testing.F) {
	f.Add([]byte(`{"id":$ID,"result":{"protocol":1,"version":"x","hostname":"h"}}` + "\n"))
	f.Add([]byte(`{"id":1,"result":{"protocol":1,"version":"stale","hostname":"h"}}` + "\n"))
	f.Fuzz(func(t *testing.T, reply []byte) {
		host, guest := net.Pipe()
		defer host.Close()
		sent := make(chan []byte, 1)
		go func() {
			defer guest.Close()
			line, err := bufio.NewReader(guest).ReadBytes('\n')
			var req Request
			if err != nil || json.Unmarshal(line, &req) != nil {
				sent <- nil
				return
			}
			r := bytes.ReplaceAll(reply, []byte("$ID"), []byte(strconv.FormatUint(req.ID, 10)))
			sent <- r
			_, _ = guest.Write(r)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var h Hello
		c := NewClient(host)
		id := c.next + 1
		err := c.Call(ctx, "hello", &h)
		if r := <-sent; err == nil && !answers(r, id) {
			t.Fatalf("Call accepted %q, which holds no answer to request %d", r, id)
		}
	})
}

// answers reports whether a line of reply is an error-free response to id.
func answers(reply []byte, id uint64) bool {
	for line := range bytes.Lines(reply) {
		var r Response
		if json.Unmarshal(line, &r) == nil && r.ID == id && r.Error == "" {
			return true
		}
	}
	return false
}

// FuzzServerHandle: whatever line the host (or anyone on the channel)
// sends, the agent answers with one line of JSON that decodes as a
// Response.
func FuzzServerHandle(f *testing.F) {
	f.Add([]byte(`{"id":7,"method":"health"}`))
	s := &Server{ProcRoot: f.TempDir()}
	f.Fuzz(func(t *testing.T, line []byte) {
		resp := s.handle(line)
		b, err := json.Marshal(resp)
		if err != nil || bytes.ContainsRune(b, '\n') {
			t.Fatalf("response %+v does not marshal to one line: %q, %v", resp, b, err)
		}
		var back Response
		if err := json.Unmarshal(b, &back); err != nil || back.ID != resp.ID {
			t.Fatalf("response %q does not decode back: %v", b, err)
		}
	})
}

// FuzzParseCmdline: the guest's reading of the kernel command line; a
// configuration it accepts renders (Cmdline) to one it reads back the same.
func FuzzParseCmdline(f *testing.F) {
	f.Add("console=ttyS0 banger.ip=172.30.0.2/24 banger.gw=172.30.0.1 banger.hostname=web1")
	f.Fuzz(func(t *testing.T, line string) {
		c, err := ParseCmdline(line)
		if err != nil {
			return
		}
		back, err := ParseCmdline(c.Cmdline())
		if err != nil {
			t.Fatalf("ParseCmdline(%q): %v (from %q)", c.Cmdline(), err, line)
		}
		if back.Addr != c.Addr || back.Gateway != c.Gateway || back.Hostname != c.Hostname || len(back.DNS) != len(c.DNS) {
			t.Fatalf("round trip of %q: %+v, want %+v", line, back, c)
		}
		for i := range c.DNS {
			if back.DNS[i] != c.DNS[i] {
				t.Fatalf("round trip of %q: DNS %v, want %v", line, back.DNS, c.DNS)
			}
		}
	})
}
