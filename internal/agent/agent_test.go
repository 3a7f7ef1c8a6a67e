package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseCmdline(t *testing.T) {
	tests := []struct {
		in      string
		want    NetConfig
		wantErr string
	}{
		{
			in: "console=ttyS0 banger.ip=172.30.0.2/24 banger.gw=172.30.0.1 banger.hostname=happy-otter quiet",
			want: NetConfig{Addr: netip.MustParsePrefix("172.30.0.2/24"), Gateway: netip.MustParseAddr("172.30.0.1"),
				Hostname: "happy-otter"},
		},
		{in: "console=ttyS0", wantErr: "no banger.ip="},
		{in: "banger.ip=300.1.1.1/24", wantErr: "parse banger.ip="},
		{in: "banger.ip=10.0.0.2/24 banger.hostname=Bad_Name", wantErr: "invalid hostname"},
	}
	for _, tt := range tests {
		got, err := ParseCmdline(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if got.Addr != tt.want.Addr || got.Gateway != tt.want.Gateway || got.Hostname != tt.want.Hostname {
			t.Errorf("%q: got %+v want %+v", tt.in, got, tt.want)
		}
		if rt, err := ParseCmdline(got.Cmdline()); err != nil || rt.Addr != got.Addr || rt.Hostname != got.Hostname {
			t.Errorf("round trip of %q failed: %+v %v", got.Cmdline(), rt, err)
		}
	}
}

func TestClientServerOverPipe(t *testing.T) {
	host, guest := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := &Server{Version: "test-1", ProcRoot: t.TempDir()}
	go func() { _ = srv.Serve(ctx, guest) }()
	c := NewClient(host)
	defer c.Close()
	cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
	defer ccancel()
	h, err := c.Hello(cctx)
	if err != nil {
		t.Fatal(err)
	}
	if h.Protocol != ProtocolVersion || h.Version != "test-1" {
		t.Fatalf("hello = %+v", h)
	}
	var hl Health
	if err := c.Call(cctx, "health", &hl); err != nil || !hl.OK {
		t.Fatalf("health = %+v, %v", hl, err)
	}
	if err := c.Call(cctx, "nope", nil); err == nil || !strings.Contains(err.Error(), "unknown method") {
		t.Fatalf("unknown method: %v", err)
	}
}

func TestHelloRefusesOlderProtocol(t *testing.T) {
	host, guest := net.Pipe()
	defer host.Close()
	go func() {
		buf := make([]byte, 512)
		n, _ := guest.Read(buf)
		var req Request
		_ = json.Unmarshal(buf[:n], &req)
		b, _ := json.Marshal(Response{ID: req.ID, Result: json.RawMessage(`{"protocol":0,"version":"ancient"}`)})
		guest.Write(append(b, '\n'))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := NewClient(host).Hello(ctx)
	var old *TooOldError
	if !errors.As(err, &old) || old.Have != 0 || !strings.Contains(err.Error(), "rebuild the image") {
		t.Fatalf("want TooOldError telling to rebuild, got %v", err)
	}
}

func TestServeConnEndsWhenTheConnectionCloses(t *testing.T) {
	host, guest := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- (&Server{Version: "v"}).ServeConn(context.Background(), guest) }()
	c := NewClient(host)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Hello(ctx); err != nil {
		t.Fatal(err)
	}
	host.Close()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, io.ErrClosedPipe) {
			t.Fatalf("ServeConn: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeConn kept going after the connection closed")
	}
}

// TestClientIgnoresAnEarlierConnectionsAnswers: the channel may still hold
// what the agent answered an earlier connection (or, in a restored guest,
// its template's), with the ids a client starts from; a new client must
// not take it for the answer to its own request.
func TestClientIgnoresAnEarlierConnectionsAnswers(t *testing.T) {
	host, guest := net.Pipe()
	defer host.Close()
	go func() {
		defer guest.Close()
		line, err := bufio.NewReader(guest).ReadBytes('\n')
		var req Request
		if err != nil || json.Unmarshal(line, &req) != nil {
			return
		}
		for id := uint64(1); id <= 3; id++ { // stale answers first
			fmt.Fprintf(guest, `{"id":%d,"result":{"protocol":1,"version":"stale"}}`+"\n", id)
		}
		fmt.Fprintf(guest, `{"id":%d,"result":{"protocol":1,"version":"fresh"}}`+"\n", req.ID)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var h Hello
	if err := NewClient(host).Call(ctx, "hello", &h); err != nil {
		t.Fatal(err)
	}
	if h.Version != "fresh" {
		t.Fatalf("took the answer %q", h.Version)
	}
}
