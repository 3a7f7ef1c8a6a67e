package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// TestConnectUpgradesToAStream checks that Connect asks for the upgrade
// and returns the connection as a stream both ways once the daemon
// switches protocols.
func TestConnectUpgradesToAStream(t *testing.T) {
	f := &fakeDaemon{reply: func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != ConnectProtocol || r.Header.Get("Connection") != "Upgrade" {
			http.Error(w, "no upgrade asked", http.StatusBadRequest)
			return
		}
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer nc.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", ConnectProtocol)
		brw.Flush()
		line := make([]byte, 5)
		if _, err := io.ReadFull(brw, line); err == nil {
			nc.Write(append([]byte("echo "), line...))
		}
	}}
	c := serveFake(t, f)
	s, err := c.Connect(context.Background(), "a b")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "echo hello" {
		t.Fatalf("read %q, %v; want \"echo hello\"", got, err)
	}
	if r := f.last(t); r.pattern != Endpoints.Connect.Pattern() || r.path != "/v1/vms/a%20b/connect" {
		t.Errorf("request %+v", r)
	}
}

// TestConnectRefused checks that a refused connect is the daemon's error.
func TestConnectRefused(t *testing.T) {
	f := &fakeDaemon{reply: func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"kind":"bad_request","message":"VM x is not reached over its agent"}`)
	}}
	c := serveFake(t, f)
	_, err := c.Connect(context.Background(), "x")
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindBadRequest || e.Message != "VM x is not reached over its agent" {
		t.Fatalf("Connect = %v, want the daemon's bad_request", err)
	}
}
