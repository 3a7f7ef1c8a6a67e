package qemu

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const greeting = `{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}`

// fakeQMP serves one connection on a unix socket. handle gets each decoded
// command and returns the raw lines to send back.
type fakeQMP struct {
	path     string
	received chan map[string]any
	// files receives the descriptors passed with SCM_RIGHTS, in order.
	files chan *os.File
}

// rightsReader reads a unix connection and keeps the descriptors that
// arrive with the bytes.
type rightsReader struct {
	c     *net.UnixConn
	files chan *os.File
}

func (r rightsReader) Read(b []byte) (int, error) {
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, _, _, err := r.c.ReadMsgUnix(b, oob)
	if oobn > 0 {
		msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
		for _, m := range msgs {
			fds, _ := unix.ParseUnixRights(&m)
			for _, fd := range fds {
				r.files <- os.NewFile(uintptr(fd), "passed")
			}
		}
	}
	return n, err
}

func startFakeQMP(t *testing.T, greet string, handle func(cmd map[string]any) []string) *fakeQMP {
	t.Helper()
	path := filepath.Join(t.TempDir(), "qmp.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	f := &fakeQMP{path: path, received: make(chan map[string]any, 16), files: make(chan *os.File, 4)}
	t.Cleanup(func() { l.Close() })
	go func() {
		conn, err := l.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		if greet != "" {
			conn.Write([]byte(greet + "\r\n"))
		}
		sc := bufio.NewScanner(rightsReader{conn.(*net.UnixConn), f.files})
		for sc.Scan() {
			var cmd map[string]any
			if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
				return
			}
			f.received <- cmd
			for _, line := range handle(cmd) {
				if _, err := conn.Write([]byte(line + "\r\n")); err != nil {
					return
				}
			}
		}
	}()
	return f
}

func reply(cmd map[string]any, body string) string {
	id, _ := json.Marshal(cmd["id"])
	return `{"return": ` + body + `, "id": ` + string(id) + `}`
}

func TestQMPExecute(t *testing.T) {
	f := startFakeQMP(t, greeting, func(cmd map[string]any) []string {
		switch cmd["execute"] {
		case "qmp_capabilities":
			return []string{reply(cmd, "{}")}
		case "query-status":
			return []string{
				`{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RTC_CHANGE", "data": {"offset": 0}}`,
				`{"return": {}, "id": "someone-else"}`,
				reply(cmd, `{"status": "running", "running": true}`),
			}
		case "system_powerdown":
			return []string{
				reply(cmd, "{}"),
				`{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "POWERDOWN"}`,
			}
		case "bogus":
			id, _ := json.Marshal(cmd["id"])
			return []string{`{"error": {"class": "CommandNotFound", "desc": "The command bogus has not been found"}, "id": ` + string(id) + `}`}
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := DialQMP(ctx, f.path)
	if err != nil {
		t.Fatalf("DialQMP: %v", err)
	}
	defer c.Close()
	if got := <-f.received; got["execute"] != "qmp_capabilities" {
		t.Fatalf("first command = %v, want qmp_capabilities", got)
	}

	ret, err := c.Execute(ctx, "query-status", nil)
	if err != nil {
		t.Fatalf("query-status: %v", err)
	}
	var st struct {
		Status  string `json:"status"`
		Running bool   `json:"running"`
	}
	if err := json.Unmarshal(ret, &st); err != nil || st.Status != "running" || !st.Running {
		t.Fatalf("query-status return = %s (%v)", ret, err)
	}
	if ev := c.Events(); len(ev) != 1 || ev[0].Event != "RTC_CHANGE" {
		t.Fatalf("events = %+v, want one RTC_CHANGE", ev)
	}

	// An event arriving after a reply is picked up by the next command.
	if _, err := c.Execute(ctx, "system_powerdown", map[string]any{}); err != nil {
		t.Fatalf("system_powerdown: %v", err)
	}
	_, err = c.Execute(ctx, "bogus", map[string]any{"x": 1})
	var qe *QMPError
	if !errors.As(err, &qe) || qe.Class != "CommandNotFound" {
		t.Fatalf("bogus = %v, want QMPError CommandNotFound", err)
	}
	if ev := c.Events(); len(ev) != 1 || ev[0].Event != "POWERDOWN" {
		t.Fatalf("events = %+v, want one POWERDOWN", ev)
	}
	<-f.received // query-status
	<-f.received // system_powerdown
	sent := <-f.received
	if args, _ := sent["arguments"].(map[string]any); args["x"] != float64(1) {
		t.Fatalf("bogus sent arguments %v, want {x:1}", sent["arguments"])
	}
}

func TestQMPHandshakeFailures(t *testing.T) {
	tests := []struct {
		name    string
		greet   string
		handle  func(map[string]any) []string
		wantErr string
	}{
		{
			name:    "not a greeting",
			greet:   `{"return": {}}`,
			handle:  func(map[string]any) []string { return nil },
			wantErr: "not a QMP greeting",
		},
		{
			name:  "capabilities refused",
			greet: greeting,
			handle: func(cmd map[string]any) []string {
				id, _ := json.Marshal(cmd["id"])
				return []string{`{"error": {"class": "GenericError", "desc": "nope"}, "id": ` + string(id) + `}`}
			},
			wantErr: "nope",
		},
		{
			name:    "silent server hits the deadline",
			greet:   "",
			handle:  func(map[string]any) []string { return nil },
			wantErr: "deadline exceeded",
		},
		{
			name:    "capabilities never answered",
			greet:   greeting,
			handle:  func(map[string]any) []string { return nil },
			wantErr: "deadline exceeded",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startFakeQMP(t, tt.greet, tt.handle)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			c, err := DialQMP(ctx, f.path)
			if err == nil {
				c.Close()
				t.Fatal("DialQMP succeeded, want error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("DialQMP = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestQMPCancel(t *testing.T) {
	f := startFakeQMP(t, greeting, func(cmd map[string]any) []string {
		if cmd["execute"] == "qmp_capabilities" {
			return []string{reply(cmd, "{}")}
		}
		return nil // never answer anything else
	})
	c, err := DialQMP(context.Background(), f.path)
	if err != nil {
		t.Fatalf("DialQMP: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err = c.Execute(ctx, "query-status", nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Execute = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Execute returned %s after cancel", d)
	}
}

func TestDialQMPNoSocket(t *testing.T) {
	_, err := DialQMP(context.Background(), filepath.Join(t.TempDir(), "missing.sock"))
	if err == nil || !strings.Contains(err.Error(), "connect to qmp socket") {
		t.Fatalf("DialQMP = %v, want connect error", err)
	}
}
