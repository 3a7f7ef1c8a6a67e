package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// request is what the fake daemon saw of one request.
type request struct {
	pattern, method, path, query, ctype, body string
}

// fakeDaemon serves every endpoint of the table on a unix socket: it
// records each request and answers with its next reply.
type fakeDaemon struct {
	mu    sync.Mutex
	seen  []request
	reply func(w http.ResponseWriter, r *http.Request)
}

// endpoints lists the table by field name, through reflection, so that a
// new endpoint cannot go untested.
func endpoints(t *testing.T) map[string]reflect.Value {
	t.Helper()
	out := map[string]reflect.Value{}
	v := reflect.ValueOf(Endpoints)
	for i := range v.NumField() {
		out[v.Type().Field(i).Name] = v.Field(i)
	}
	return out
}

func pattern(e reflect.Value) string {
	return e.Interface().(interface{ Pattern() string }).Pattern()
}

func serveFake(t *testing.T, f *fakeDaemon) *Client {
	t.Helper()
	mux := http.NewServeMux()
	for _, e := range endpoints(t) {
		mux.HandleFunc(pattern(e), func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			f.mu.Lock()
			f.seen = append(f.seen, request{r.Pattern, r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("Content-Type"), string(b)})
			reply := f.reply
			f.mu.Unlock()
			reply(w, r)
		})
	}
	sock := filepath.Join(t.TempDir(), "api.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return NewClient(sock)
}

func (f *fakeDaemon) answer(reply func(http.ResponseWriter, *http.Request)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reply = reply
}

func (f *fakeDaemon) last(t *testing.T) request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.seen) == 0 {
		t.Fatal("the daemon saw no request")
	}
	return f.seen[len(f.seen)-1]
}

func answerJSON(body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body+"\n")
	}
}

func answerEvents(lines ...string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		for _, l := range lines {
			io.WriteString(w, l+"\n")
		}
	}
}

// TestEveryEndpoint calls each client method and checks the request on the
// wire (method, path, body) and the decoding of the answer. The methods
// and paths are written out here as the contract the CLI, the e2e tests
// and the docs rely on.
func TestEveryEndpoint(t *testing.T) {
	ctx := context.Background()
	yes, two := true, 2
	tests := []struct {
		endpoint, method, path, query, body string
		answer                              string // JSON; streamed as a result event for event endpoints
		call                                func(*Client) (any, error)
		want                                any
	}{
		{"Ping", "GET", "/v1/ping", "", "", `{"version":"v","pid":7,"socket":"/s"}`,
			func(c *Client) (any, error) { return c.Ping(ctx) }, Ping{Version: "v", PID: 7, Socket: "/s"}},
		{"Shutdown", "POST", "/v1/shutdown", "", "", `{"status":"shutting down"}`,
			func(c *Client) (any, error) { return nil, c.Shutdown(ctx) }, nil},
		{"UILogin", "POST", "/v1/ui/login", "", "", `{"url":"http://127.0.0.1:7878/login?token=t"}`,
			func(c *Client) (any, error) { return c.UILogin(ctx) }, UILogin{URL: "http://127.0.0.1:7878/login?token=t"}},
		{"ListVMs", "GET", "/v1/vms", "", "", `[{"name":"a"},{"name":"b"}]`,
			func(c *Client) (any, error) { return c.ListVMs(ctx) }, []VM{{Name: "a"}, {Name: "b"}}},
		{"CreateVM", "POST", "/v1/vms", "", `{"name":"a","vcpus":2,"nat":true}`, `{"name":"a","vcpus":2}`,
			func(c *Client) (any, error) { return c.CreateVM(ctx, CreateVM{Name: "a", VCPUs: 2, NAT: &yes}, nil) }, VM{Name: "a", VCPUs: 2}},
		{"PruneVMs", "POST", "/v1/vms/prune", "", "", `{"deleted":["x"]}`,
			func(c *Client) (any, error) { return c.PruneVMs(ctx) }, PruneResult{Deleted: []string{"x"}}},
		{"GetVM", "GET", "/v1/vms/my%20vm", "", "", `{"name":"my vm"}`,
			func(c *Client) (any, error) { return c.GetVM(ctx, "my vm") }, VM{Name: "my vm"}},
		{"DeleteVM", "DELETE", "/v1/vms/a", "", "", `{"deleted":"a"}`,
			func(c *Client) (any, error) { return nil, c.DeleteVM(ctx, "a") }, nil},
		{"SetVM", "PATCH", "/v1/vms/a", "", `{"vcpus":2}`, `{"name":"a","vcpus":2}`,
			func(c *Client) (any, error) { return c.SetVM(ctx, "a", SetVM{VCPUs: &two}) }, VM{Name: "a", VCPUs: 2}},
		{"VMAction", "POST", "/v1/vms/a/restart", "", "", `{"name":"a","state":"running"}`,
			func(c *Client) (any, error) { return c.VMAction(ctx, "a", "restart", nil) }, VM{Name: "a", State: "running"}},
		{"SSHTarget", "GET", "/v1/vms/a/ssh", "", "", `{"vm":"a","port":22}`,
			func(c *Client) (any, error) { return c.SSHTarget(ctx, "a") }, SSHTarget{VM: "a", Port: 22}},
		{"SetWorkspace", "POST", "/v1/vms/a/workspace", "", `{"host_path":"/h","guest_path":"/root/h","head":"abc","updated_at":"0001-01-01T00:00:00Z"}`, `{}`,
			func(c *Client) (any, error) {
				return nil, c.SetWorkspace(ctx, "a", Workspace{HostPath: "/h", GuestPath: "/root/h", Head: "abc"})
			}, nil},
		{"ListForwards", "GET", "/v1/forwards", "", "", `[{"id":1,"vm":"a"}]`,
			func(c *Client) (any, error) { return c.ListForwards(ctx) }, []Forward{{ID: 1, VM: "a"}}},
		{"Ports", "GET", "/v1/vms/a/ports", "", "", `[{"proto":"tcp","port":22}]`,
			func(c *Client) (any, error) { return c.Ports(ctx, "a") }, []Port{{Proto: "tcp", Port: 22}}},
		{"Stats", "GET", "/v1/vms/a/stats", "", "", `{"load1":0.5,"disks":[{"path":"/","total":10,"free":4}]}`,
			func(c *Client) (any, error) { return c.Stats(ctx, "a") }, Stats{Load1: 0.5, Disks: []DiskUsage{{Path: "/", Total: 10, Free: 4}}}},
		{"ListImages", "GET", "/v1/images", "", "", `[{"name":"i"}]`,
			func(c *Client) (any, error) { return c.ListImages(ctx) }, []Image{{Name: "i"}}},
		{"BuildImage", "POST", "/v1/images/build", "", `{"name":"i","force":true}`, `{"name":"i"}`,
			func(c *Client) (any, error) { return c.BuildImage(ctx, BuildImage{Name: "i", Force: true}, nil) }, Image{Name: "i"}},
		{"GetImage", "GET", "/v1/images/i", "", "", `{"name":"i"}`,
			func(c *Client) (any, error) { return c.GetImage(ctx, "i") }, Image{Name: "i"}},
		{"DeleteImage", "DELETE", "/v1/images/i", "", "", `{"deleted":"i"}`,
			func(c *Client) (any, error) { return nil, c.DeleteImage(ctx, "i") }, nil},
		{"PullImage", "POST", "/v1/images/pull", "", `{"ref":"alpine:3","size":"2G"}`, `{"name":"alpine-3"}`,
			func(c *Client) (any, error) { return c.PullImage(ctx, PullImage{Ref: "alpine:3", Size: "2G"}, nil) }, Image{Name: "alpine-3"}},
		{"RegisterImage", "POST", "/v1/images/register", "", `{"name":"r","rootfs":"/r","kernel_ref":"k"}`, `{"name":"r"}`,
			func(c *Client) (any, error) {
				return c.RegisterImage(ctx, RegisterImage{Name: "r", Rootfs: "/r", KernelRef: "k"})
			}, Image{Name: "r"}},
		{"PruneImageCache", "POST", "/v1/images/cache/prune", "", `{"dry_run":true}`, `{"dry_run":true,"files":[],"bytes":0}`,
			func(c *Client) (any, error) { return c.PruneImageCache(ctx, PruneCache{DryRun: true}) }, CacheReport{DryRun: true, Files: []CacheFile{}}},
		{"PromoteImage", "POST", "/v1/images/r/promote", "", "", `{"name":"r","managed":true}`,
			func(c *Client) (any, error) { return c.PromoteImage(ctx, "r", nil) }, Image{Name: "r", Managed: true}},
		{"BundleImage", "POST", "/v1/images/i/bundle", "", `{"out":"/o"}`, `{"kind":"image","name":"i"}`,
			func(c *Client) (any, error) { return c.BundleImage(ctx, "i", BundleRequest{Out: "/o"}) }, Bundle{Kind: "image", Name: "i"}},
		{"Catalog", "GET", "/v1/catalog", "", "", `{"images":[],"kernels":[],"warning":"w"}`,
			func(c *Client) (any, error) { return c.Catalog(ctx) }, Catalog{Images: []CatalogImage{}, Kernels: []CatalogKernel{}, Warning: "w"}},
		{"WarmImage", "POST", "/v1/images/i/warm", "", `{"vcpus":2}`, `{"key":"k1","image":"i","vcpus":2}`,
			func(c *Client) (any, error) { return c.WarmImage(ctx, "i", WarmImage{VCPUs: 2}, nil) }, Snapshot{Key: "k1", Image: "i", VCPUs: 2}},
		{"ListSnapshots", "GET", "/v1/snapshots", "", "", `[{"key":"k1"}]`,
			func(c *Client) (any, error) { return c.ListSnapshots(ctx) }, []Snapshot{{Key: "k1"}}},
		{"DeleteSnapshot", "DELETE", "/v1/snapshots/k1", "", "", `{"deleted":"k1"}`,
			func(c *Client) (any, error) { return nil, c.DeleteSnapshot(ctx, "k1") }, nil},
		{"ListKernels", "GET", "/v1/kernels", "", "", `[{"name":"k"}]`,
			func(c *Client) (any, error) { return c.ListKernels(ctx) }, []Kernel{{Name: "k"}}},
		{"PullKernel", "POST", "/v1/kernels/pull", "", `{"name":"k"}`, `{"name":"k"}`,
			func(c *Client) (any, error) { return c.PullKernel(ctx, PullKernel{Name: "k"}, nil) }, Kernel{Name: "k"}},
		{"ImportKernel", "POST", "/v1/kernels/import", "", `{"name":"k","from":"/d"}`, `{"name":"k"}`,
			func(c *Client) (any, error) { return c.ImportKernel(ctx, ImportKernel{Name: "k", From: "/d"}) }, Kernel{Name: "k"}},
		{"GetKernel", "GET", "/v1/kernels/k", "", "", `{"name":"k"}`,
			func(c *Client) (any, error) { return c.GetKernel(ctx, "k") }, Kernel{Name: "k"}},
		{"DeleteKernel", "DELETE", "/v1/kernels/k", "", "", `{"deleted":"k"}`,
			func(c *Client) (any, error) { return nil, c.DeleteKernel(ctx, "k") }, nil},
		{"BundleKernel", "POST", "/v1/kernels/k/bundle", "", `{"out":"/o"}`, `{"kind":"kernel","name":"k"}`,
			func(c *Client) (any, error) { return c.BundleKernel(ctx, "k", BundleRequest{Out: "/o"}) }, Bundle{Kind: "kernel", Name: "k"}},
		{"ListOps", "GET", "/v1/ops", "all=1", "", `[{"id":"o1","kind":"vm create","state":"running","uid":0,"started":"0001-01-01T00:00:00Z"}]`,
			func(c *Client) (any, error) { return c.ListOperations(ctx, true) }, []Operation{{ID: "o1", Kind: "vm create", State: OpRunning}}},
		{"GetOp", "GET", "/v1/ops/o1", "", "", `{"id":"o1","state":"failed","error":"e"}`,
			func(c *Client) (any, error) { return c.GetOperation(ctx, "o1") }, Operation{ID: "o1", State: OpFailed, Error: "e"}},
		{"WaitOp", "POST", "/v1/ops/o1/wait", "", "", `{"id":"o1","state":"succeeded"}`,
			func(c *Client) (any, error) { return c.WaitOperation(ctx, "o1", nil) }, Operation{ID: "o1", State: OpSucceeded}},
		{"CancelOp", "POST", "/v1/ops/o1/cancel", "", "", `{"id":"o1","state":"cancelled"}`,
			func(c *Client) (any, error) { return c.CancelOperation(ctx, "o1") }, Operation{ID: "o1", State: OpCancelled}},
	}
	f := &fakeDaemon{}
	c := serveFake(t, f)
	eps := endpoints(t)
	tested := map[string]bool{"Logs": true, "Forward": true, "Connect": true} // tested on their own
	for _, tt := range tests {
		t.Run(tt.endpoint, func(t *testing.T) {
			e, ok := eps[tt.endpoint]
			if !ok {
				t.Fatalf("no endpoint %s in the table", tt.endpoint)
			}
			tested[tt.endpoint] = true
			f.answer(answerJSON(tt.answer))
			if Reply(e.FieldByName("Reply").Int()) == ReplyEvents {
				f.answer(answerEvents(`{"type":"log","step":"s","message":"m"}`, `{"type":"result","result":`+tt.answer+`}`))
			}
			got, err := tt.call(c)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("answer %#v\nwant %#v", got, tt.want)
			}
			r := f.last(t)
			wantCT := ""
			if tt.body != "" {
				wantCT = "application/json"
			}
			want := request{pattern(e), tt.method, tt.path, tt.query, wantCT, tt.body}
			if r != want {
				t.Errorf("request %+v\nwant    %+v", r, want)
			}
		})
	}
	for name := range eps {
		if !tested[name] {
			t.Errorf("endpoint %s has no client test", name)
		}
	}
}

func TestLogsSendsOffsetAndCopiesText(t *testing.T) {
	f := &fakeDaemon{reply: func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "boot line\nlogin:")
	}}
	c := serveFake(t, f)
	var buf strings.Builder
	n, err := c.Logs(context.Background(), "a b", 42, &buf)
	if err != nil || n != 16 || buf.String() != "boot line\nlogin:" {
		t.Fatalf("Logs = %d, %v, %q", n, err, buf.String())
	}
	r := f.last(t)
	if r.pattern != Endpoints.Logs.Pattern() || r.path != "/v1/vms/a%20b/logs" || r.query != "offset=42" || r.body != "" {
		t.Fatalf("request %+v", r)
	}
}

func TestForwardCallsReadyThenEndsWithTheStreamError(t *testing.T) {
	f := &fakeDaemon{reply: answerEvents(
		`{"type":"forward","result":{"id":3,"vm":"a","listen":"127.0.0.1:8080","target":"10.0.0.2:80"}}`,
		`{"type":"error","error":{"kind":"operation_failed","message":"VM a stopped; the forward ended","op_id":"00c0ffee"}}`)}
	c := serveFake(t, f)
	var ready []Forward
	err := c.Forward(context.Background(), "a", ForwardRequest{Spec: "8080:80"}, func(fw Forward) { ready = append(ready, fw) })
	var ae *Error
	if !errors.As(err, &ae) || ae.Kind != KindFailed || ae.OpID != "00c0ffee" || err.Error() != "VM a stopped; the forward ended (op 00c0ffee)" {
		t.Fatalf("Forward error %v", err)
	}
	if len(ready) != 1 || ready[0].ID != 3 || ready[0].Listen != "127.0.0.1:8080" || ready[0].Target != "10.0.0.2:80" {
		t.Fatalf("ready got %+v", ready)
	}
	if r := f.last(t); r.method != "POST" || r.path != "/v1/vms/a/forwards" || r.body != `{"spec":"8080:80"}` {
		t.Fatalf("request %+v", r)
	}
}

func TestStreamDeliversEventsInOrder(t *testing.T) {
	f := &fakeDaemon{reply: answerEvents(
		`{"type":"progress","step":"download","done":5,"total":10}`,
		`{"type":"log","step":"boot","message":"booting"}`,
		`{"type":"progress","step":"download","done":10,"total":10}`,
		`{"type":"result","result":{"name":"a","state":"running"}}`,
		`{"type":"log","message":"after the result: never read"}`)}
	c := serveFake(t, f)
	var got []Event
	v, err := c.CreateVM(context.Background(), CreateVM{}, func(ev Event) { got = append(got, ev) })
	if err != nil || v.Name != "a" || v.State != "running" {
		t.Fatalf("CreateVM = %+v, %v", v, err)
	}
	want := []Event{
		{Type: "progress", Step: "download", Done: 5, Total: 10},
		{Type: "log", Step: "boot", Message: "booting"},
		{Type: "progress", Step: "download", Done: 10, Total: 10},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events %+v\nwant   %+v", got, want)
	}
}

func TestErrorsDecodeIntoKinds(t *testing.T) {
	tests := []struct {
		name    string
		reply   func(http.ResponseWriter, *http.Request)
		call    func(*Client) error
		kind    string
		message string // the whole Error()
	}{
		{"error body", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"kind":"not_found","message":"no VM called \"x\"","op_id":"0badc0de"}`)
		}, func(c *Client) error { _, err := c.GetVM(context.Background(), "x"); return err },
			KindNotFound, `no VM called "x" (op 0badc0de)`},
		{"error body before a stream", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"kind":"bad_request","message":"--disk-size: bad"}`)
		}, func(c *Client) error { _, err := c.CreateVM(context.Background(), CreateVM{}, nil); return err },
			KindBadRequest, "--disk-size: bad"},
		{"not an error body", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "proxy trouble\n")
		}, func(c *Client) error { _, err := c.ListVMs(context.Background()); return err },
			KindFailed, "daemon answered 502 Bad Gateway: proxy trouble"},
		{"error event", answerEvents(`{"type":"log","message":"x"}`, `{"type":"error","error":{"kind":"in_use","message":"busy","op_id":"12345678"}}`),
			func(c *Client) error { _, err := c.BuildImage(context.Background(), BuildImage{}, nil); return err },
			KindInUse, "busy (op 12345678)"},
		{"error event without error", answerEvents(`{"type":"error"}`),
			func(c *Client) error { _, err := c.PullKernel(context.Background(), PullKernel{}, nil); return err },
			KindFailed, "operation failed without a message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := serveFake(t, &fakeDaemon{reply: tt.reply})
			err := tt.call(c)
			var ae *Error
			if !errors.As(err, &ae) || ae.Kind != tt.kind || err.Error() != tt.message {
				t.Fatalf("error %v (%T), want kind %s and %q", err, err, tt.kind, tt.message)
			}
		})
	}
}

func TestBrokenAnswers(t *testing.T) {
	tests := []struct {
		name, contains string
		reply          func(http.ResponseWriter, *http.Request)
	}{
		{"stream ends early", "closed the stream before the operation finished", answerEvents(`{"type":"log","message":"x"}`)},
		{"bad event", "decode event of POST /v1/vms", answerEvents(`not json`)},
		{"bad result", "decode result of POST /v1/vms", answerEvents(`{"type":"result","result":[1]}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := serveFake(t, &fakeDaemon{reply: tt.reply})
			_, err := c.CreateVM(context.Background(), CreateVM{}, nil)
			var ae *Error
			if err == nil || errors.As(err, &ae) || !strings.Contains(err.Error(), tt.contains) {
				t.Fatalf("error %v, want a plain error containing %q", err, tt.contains)
			}
		})
	}
	c := serveFake(t, &fakeDaemon{reply: answerJSON(`{"name":`)})
	if _, err := c.GetVM(context.Background(), "a"); err == nil || !strings.Contains(err.Error(), "decode answer of GET /v1/vms/a") {
		t.Fatalf("truncated JSON: %v", err)
	}
}

func TestUnreachableDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nobody.sock")
	_, err := NewClient(sock).Ping(context.Background())
	if !errors.Is(err, ErrDaemonUnreachable) || !strings.Contains(err.Error(), sock) {
		t.Fatalf("Ping of nothing = %v", err)
	}
}

// TestCancelEndsAStream cancels a create while the daemon streams it: the
// client returns at once with the context's error and the daemon sees its
// request end.
func TestCancelEndsAStream(t *testing.T) {
	serverDone := make(chan struct{})
	f := &fakeDaemon{reply: func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		io.WriteString(w, `{"type":"log","step":"boot","message":"booting"}`+"\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
		close(serverDone)
	}}
	c := serveFake(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, err := c.CreateVM(ctx, CreateVM{}, func(ev Event) {
		if ev.Step == "boot" {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateVM after cancel = %v", err)
	}
	select {
	case <-serverDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the daemon never saw the request end")
	}
}

func TestEndpointURL(t *testing.T) {
	e := Endpoint[Empty, VM]{"POST", "/vms/{name}/{action}", ReplyEvents}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"a", "start"}, "/v1/vms/a/start"},
		{[]string{"a/b", "x y"}, "/v1/vms/a%2Fb/x%20y"},
		{[]string{"a"}, "/v1/vms/a/{action}"},
	} {
		if got := e.URL(tt.args...); got != tt.want {
			t.Errorf("URL(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
	if p := e.Pattern(); p != "POST /v1/vms/{name}/{action}" {
		t.Errorf("Pattern = %q", p)
	}
}

func TestPatternsAreDistinct(t *testing.T) {
	seen := map[string]string{}
	for name, e := range endpoints(t) {
		p := pattern(e)
		if other, dup := seen[p]; dup {
			t.Errorf("%s and %s share %s", name, other, p)
		}
		seen[p] = name
	}
	if len(seen) != reflect.TypeOf(Endpoints).NumField() {
		t.Fatal(fmt.Sprint("patterns: ", len(seen)))
	}
}
