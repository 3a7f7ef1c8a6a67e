package agent

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func call(t *testing.T, s *Server, method string, params any, out any) string {
	t.Helper()
	req := Request{ID: 7, Method: method}
	if params != nil {
		req.Params, _ = json.Marshal(params)
	}
	line, _ := json.Marshal(req)
	resp := s.handle(line)
	if resp.ID != 7 {
		t.Fatalf("%s: response id %d", method, resp.ID)
	}
	if resp.Error == "" && out != nil {
		if err := json.Unmarshal(resp.Result, out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.Error
}

func TestIdentityMethod(t *testing.T) {
	var got Identity
	s := &Server{
		SSHHostKey: "ssh-ed25519 OLD",
		Settle:     func() (Settled, error) { return Settled{Waited: time.Second}, nil },
		Identity: func(id Identity) (IdentityResult, error) {
			got = id
			return IdentityResult{SSHHostKey: "ssh-ed25519 NEW", BootID: "b00t"}, nil
		},
	}
	var h Hello
	call(t, s, "hello", nil, &h)
	if !h.Supports(MethodIdentity) || !h.Supports(MethodSettle) || h.SSHHostKey != "ssh-ed25519 OLD" {
		t.Fatalf("hello = %+v, want identity and settle offered and the old key", h)
	}
	var st Settled
	if e := call(t, s, MethodSettle, nil, &st); e != "" || st.Waited != time.Second {
		t.Fatalf("settle = %+v %q", st, e)
	}
	want := Identity{
		Net:       NetConfig{Addr: netip.MustParsePrefix("172.16.0.9/24"), Gateway: netip.MustParseAddr("172.16.0.1"), Hostname: "clone-1"},
		MAC:       "52:54:00:aa:bb:cc",
		MachineID: strings.Repeat("ab", 16),
		Entropy:   []byte("0123456789abcdef0123456789abcdef"),
		Time:      time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC),
		WorkSize:  1 << 30, WorkDevice: "/dev/vdb",
	}
	var r IdentityResult
	if e := call(t, s, MethodIdentity, want, &r); e != "" || r.BootID != "b00t" {
		t.Fatalf("identity = %+v %q", r, e)
	}
	if got.Net.Addr != want.Net.Addr || got.Net.Hostname != want.Net.Hostname || got.MAC != want.MAC || got.MachineID != want.MachineID ||
		!slices.Equal(got.Entropy, want.Entropy) || !got.Time.Equal(want.Time) || got.WorkSize != want.WorkSize {
		t.Fatalf("the guest got %+v, want %+v", got, want)
	}
	call(t, s, "hello", nil, &h)
	if h.SSHHostKey != "ssh-ed25519 NEW" {
		t.Fatalf("hello after identity sends %q, want the new host key", h.SSHHostKey)
	}
	if e := call(t, s, MethodIdentity, nil, nil); !strings.Contains(e, "decode identity") {
		t.Fatalf("identity without params: %q", e)
	}
}

func TestIdentityNotOffered(t *testing.T) {
	s := &Server{}
	var h Hello
	call(t, s, "hello", nil, &h)
	if h.Supports(MethodIdentity) || h.Supports(MethodSettle) {
		t.Fatalf("a server without Identity/Settle offers them: %v", h.Capabilities)
	}
	if e := call(t, s, MethodIdentity, Identity{}, nil); !strings.Contains(e, "unknown method") {
		t.Fatalf("identity on a server without it: %q", e)
	}
}
