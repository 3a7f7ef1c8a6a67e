package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"banger/internal/api"
	"banger/internal/config"
)

// fakeDaemon is bangerd's HTTP/JSON API on a unix socket, answering with
// what each test registers. It records every request but the pings.
type fakeDaemon struct {
	t   *testing.T
	dir string // the runtime dir holding bangerd.sock
	mux *http.ServeMux

	mu       sync.Mutex
	requests []fakeRequest
}

// fakeRequest is one request the fake received.
type fakeRequest struct {
	Method, Path string
	Body         []byte
}

func newFakeDaemon(t *testing.T) *fakeDaemon {
	t.Helper()
	// A short directory: a unix socket path has at most 107 bytes.
	dir, err := os.MkdirTemp("", "bcli")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, "bangerd.sock"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "bangerd.sock"), 0o600); err != nil { // as bangerd makes it
		t.Fatal(err)
	}
	f := &fakeDaemon{t: t, dir: dir, mux: http.NewServeMux()}
	f.mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, r *http.Request) {
		writeFakeJSON(w, http.StatusOK, api.Ping{Version: "test", PID: 1, Socket: filepath.Join(dir, "bangerd.sock")})
	})
	f.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeFakeJSON(w, http.StatusNotFound, api.Error{Kind: api.KindUnknown, Message: "unknown method " + r.Method + " " + r.URL.Path})
	})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return f
}

func (f *fakeDaemon) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if r.URL.Path != "/v1/ping" {
		f.mu.Lock()
		f.requests = append(f.requests, fakeRequest{Method: r.Method, Path: r.URL.RequestURI(), Body: body})
		f.mu.Unlock()
	}
	f.mux.ServeHTTP(w, r)
}

// handle answers pattern (e.g. "GET /v1/vms") with h.
func (f *fakeDaemon) handle(pattern string, h http.HandlerFunc) { f.mux.HandleFunc(pattern, h) }

// reply answers pattern with v as JSON.
func (f *fakeDaemon) reply(pattern string, v any) {
	f.handle(pattern, func(w http.ResponseWriter, _ *http.Request) { writeFakeJSON(w, http.StatusOK, v) })
}

// fail answers pattern with an API error body and status code.
func (f *fakeDaemon) fail(pattern string, code int, e api.Error) {
	f.handle(pattern, func(w http.ResponseWriter, _ *http.Request) { writeFakeJSON(w, code, e) })
}

// stream answers pattern with newline-delimited events, as the daemon
// streams long operations.
func (f *fakeDaemon) stream(pattern string, events ...api.Event) {
	f.handle(pattern, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		for _, ev := range events {
			_ = enc.Encode(ev)
		}
	})
}

// seen returns the requests received so far as "METHOD PATH" lines.
func (f *fakeDaemon) seen() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.requests {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// body decodes the body of the last request to method and path into v.
func (f *fakeDaemon) body(method, path string, v any) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := len(f.requests) - 1; i >= 0; i-- {
		if r := f.requests[i]; r.Method == method && r.Path == path {
			if err := json.Unmarshal(r.Body, v); err != nil {
				f.t.Fatalf("body of %s %s: %v", method, path, err)
			}
			return
		}
	}
	f.t.Fatalf("no request %s %s; got %v", method, path, f.requests)
}

func writeFakeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// result is the last event of a successful stream.
func result(t *testing.T, v any) api.Event {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return api.Event{Type: "result", Result: b}
}

// cliRun is the outcome of one CLI invocation.
type cliRun struct {
	stdout, stderr string
	code           int
}

// run runs the banger command line against the fake with stdin as input.
func (f *fakeDaemon) run(stdin string, args ...string) cliRun {
	f.t.Helper()
	var stdout, stderr strings.Builder
	a := f.app(&stdout, &stderr)
	a.stdin = strings.NewReader(stdin)
	code := a.main(f.t.Context(), args)
	return cliRun{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

// app is a CLI invocation's state, with the fake as its daemon.
func (f *fakeDaemon) app(stdout, stderr io.Writer) *app {
	return &app{
		stdout: stdout, stderr: stderr, stdin: strings.NewReader(""),
		getenv: func(string) string { return "" },
		cfg:    &config.Config{RuntimeDir: f.dir, StateDir: f.dir},
		start: func(context.Context) error {
			return errors.New("test: the CLI tried to start a daemon")
		},
	}
}

// cli runs the banger command line against the fake.
func (f *fakeDaemon) cli(args ...string) cliRun {
	f.t.Helper()
	return f.run("", args...)
}
