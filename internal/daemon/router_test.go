package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"banger/internal/api"
	"banger/internal/forward"
	"banger/internal/progress"
	"banger/internal/vm"
	"banger/internal/vm/vmtest"
)

var opRE = regexp.MustCompile(`^[0-9a-f]{8}$`)

func TestOpHeaderAndErrorCodes(t *testing.T) {
	d := newTestDaemon(t)
	d.create(t, api.CreateVM{Name: "on"})
	d.create(t, api.CreateVM{Name: "off", NoStart: true})
	tests := []struct {
		method, path, body string
		code               int
		kind               string // "" for success
	}{
		{"GET", "/v1/ping", "", 200, ""},
		{"GET", "/v1/vms", "", 200, ""},
		{"GET", "/v1/vms/on", "", 200, ""},
		{"GET", "/v1/vms/on/ssh", "", 200, ""},
		{"GET", "/v1/vms/off/logs", "", 200, ""},
		{"GET", "/v1/images", "", 200, ""},
		{"GET", "/v1/images/" + vmtest.ImageName, "", 200, ""},
		{"GET", "/v1/kernels", "", 200, ""},
		{"GET", "/v1/vms/ghost", "", 404, api.KindNotFound},
		{"DELETE", "/v1/vms/ghost", "", 404, api.KindNotFound},
		{"GET", "/v1/vms/ghost/logs", "", 404, api.KindNotFound},
		{"GET", "/v1/vms/ghost/ssh", "", 404, api.KindNotFound},
		{"GET", "/v1/images/ghost", "", 404, api.KindNotFound},
		{"GET", "/v1/vms/off/ssh", "", 400, api.KindBadRequest},
		{"POST", "/v1/vms", `{"bogus": 1}`, 400, api.KindBadRequest},
		{"POST", "/v1/vms", `{"name": `, 400, api.KindBadRequest},
		{"POST", "/v1/vms", `{"disk_size": "lots"}`, 400, api.KindBadRequest},
		{"DELETE", "/v1/images/" + vmtest.ImageName, "", 409, api.KindInUse},
		{"POST", "/v1/vms/on/explode", "", 404, api.KindUnknown},
		{"GET", "/v1/nothing", "", 404, api.KindUnknown},
		{"PUT", "/v1/vms", "", 404, api.KindUnknown},
		{"GET", "/v2/vms", "", 404, api.KindUnknown},
	}
	routes := d.h.Routes()
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			rec := httptest.NewRecorder()
			routes.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, body))
			op := rec.Header().Get(api.OpHeader)
			if !opRE.MatchString(op) {
				t.Fatalf("%s header = %q", api.OpHeader, op)
			}
			if rec.Code != tt.code {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.code, rec.Body)
			}
			if tt.kind == "" {
				return
			}
			var e api.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("error body %q: %v", rec.Body, err)
			}
			if e.Kind != tt.kind || e.OpID != op || e.Message == "" {
				t.Fatalf("error %+v, want kind %s and op %s", e, tt.kind, op)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("content type %q", ct)
			}
		})
	}
}

func TestOpIDsDiffer(t *testing.T) {
	d := newTestDaemon(t)
	seen := map[string]bool{}
	for range 20 {
		rec := httptest.NewRecorder()
		d.h.Routes().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/ping", nil))
		seen[rec.Header().Get(api.OpHeader)] = true
	}
	if len(seen) < 19 {
		t.Fatalf("only %d distinct op ids in 20 requests", len(seen))
	}
}

func TestStreamEvents(t *testing.T) {
	d := newTestDaemon(t)
	read := func(t *testing.T, op func(progress.Func) (any, error)) ([]api.Event, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/v1/x", nil)
		req = req.WithContext(context.WithValue(req.Context(), opKey{}, "0000beef"))
		d.h.stream(rec, req, func(p progress.Func, _ func(api.Event)) (any, error) { return op(p) })
		if rec.Code != 200 {
			t.Fatalf("status %d", rec.Code)
		}
		var evs []api.Event
		sc := bufio.NewScanner(rec.Body)
		for sc.Scan() {
			var ev api.Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			evs = append(evs, ev)
		}
		return evs, rec.Header().Get("Content-Type")
	}
	evs, ct := read(t, func(p progress.Func) (any, error) {
		p.Send(progress.Event{Step: "copy", Done: 5, Total: 10})
		p.Msg("note", "hello")
		return map[string]int{"answer": 42}, nil
	})
	if ct != "application/x-ndjson" {
		t.Errorf("content type %q", ct)
	}
	if len(evs) != 3 {
		t.Fatalf("events %+v", evs)
	}
	if e := evs[0]; e.Type != "progress" || e.Step != "copy" || e.Done != 5 || e.Total != 10 {
		t.Errorf("progress event %+v", e)
	}
	if e := evs[1]; e.Type != "log" || e.Step != "note" || e.Message != "hello" {
		t.Errorf("log event %+v", e)
	}
	if e := evs[2]; e.Type != "result" || string(e.Result) != `{"answer":42}` {
		t.Errorf("result event %+v (%s)", e, e.Result)
	}

	evs, _ = read(t, func(p progress.Func) (any, error) {
		p.Msg("x", "before failing")
		return nil, fmt.Errorf("VM %q: %w", "ghost", vm.ErrNotFound)
	})
	if len(evs) != 2 || evs[1].Type != "error" || evs[1].Error == nil ||
		evs[1].Error.Kind != api.KindNotFound || evs[1].Error.OpID != "0000beef" || evs[1].Result != nil {
		t.Fatalf("error stream %+v", evs)
	}
}

// TestStreamRefusedBeforeFirstEvent: an operation that fails before it
// sends any event is answered as a plain error with its status code.
func TestStreamRefusedBeforeFirstEvent(t *testing.T) {
	d := newTestDaemon(t)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/v1/x", nil)
	req = req.WithContext(context.WithValue(req.Context(), opKey{}, "0000f00d"))
	d.h.stream(rec, req, func(progress.Func, func(api.Event)) (any, error) {
		return nil, fmt.Errorf("VM %q: %w", "ghost", vm.ErrNotFound)
	})
	var e api.Error
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/json" || e.Kind != api.KindNotFound || e.OpID != "0000f00d" {
		t.Fatalf("status %d, content type %q, error %+v", rec.Code, rec.Header().Get("Content-Type"), e)
	}
}

// TestEveryEndpointIsRouted sends each endpoint of the table to the
// router: none may fall through to "unknown method".
func TestEveryEndpointIsRouted(t *testing.T) {
	d := newTestDaemon(t)
	d.env.Service.Forwards = &forward.Manager{}
	routes := d.h.Routes()
	v := reflect.ValueOf(api.Endpoints)
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		e := v.Field(i)
		url := e.MethodByName("URL").Call([]reflect.Value{reflect.ValueOf("ghost"), reflect.ValueOf("start")})[0].String()
		method := e.FieldByName("Method").String()
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			routes.ServeHTTP(rec, httptest.NewRequest(method, url, strings.NewReader("{}")))
			var ae api.Error
			_ = json.Unmarshal(rec.Body.Bytes(), &ae)
			if ae.Kind == api.KindUnknown {
				t.Fatalf("%s %s: %d %s", method, url, rec.Code, rec.Body)
			}
		})
	}
}
