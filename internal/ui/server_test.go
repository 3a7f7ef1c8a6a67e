package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"banger/internal/access"
	"banger/internal/api"
	"banger/internal/doctor"
	"banger/internal/event"
	"banger/internal/vm"
	"banger/internal/vmm"
)

// fakeVMs is the VM service's events and nothing else.
type fakeVMs struct{ bus event.Bus[vm.Event] }

func (f *fakeVMs) Subscribe(fn func(vm.Event)) *event.Subscription[vm.Event] {
	return f.bus.Subscribe(fn)
}
func (f *fakeVMs) OpenConsoleLog(context.Context, string, int64) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader("")), nil
}
func (f *fakeVMs) Connect(context.Context, string) (net.Conn, error) {
	return nil, errors.New("no guests here")
}

// fakeAPI answers the API's paths from a list it is given and records
// the requests it got, with their callers.
type fakeAPI struct {
	mu      sync.Mutex
	vms     []api.VM
	got     []string
	callers []access.Caller
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, r.Method+" "+r.URL.Path)
	c, _ := access.CallerFrom(r.Context())
	f.callers = append(f.callers, c)
	switch {
	case r.URL.Path == "/v1/vms":
		_ = json.NewEncoder(w).Encode(f.vms)
	case r.URL.Path == "/v1/vms/plain":
		_ = json.NewEncoder(w).Encode(api.VM{Name: "plain", State: "running"})
	case strings.HasSuffix(r.URL.Path, "/stats"):
		_ = json.NewEncoder(w).Encode(api.Stats{Load1: 0.5, MemTotal: 100, MemAvailable: 40, UptimeSeconds: 9})
	default:
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(api.Error{Kind: api.KindNotFound, Message: "no such thing"})
	}
}

func (f *fakeAPI) set(vms []api.VM) {
	f.mu.Lock()
	f.vms = vms
	f.mu.Unlock()
}

func (f *fakeAPI) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.got...)
}

type fixture struct {
	srv  *Server
	api  *fakeAPI
	vms  *fakeVMs
	http *httptest.Server
	now  time.Time
}

var alice = access.Caller{UID: 1000, GID: 1000, PID: 42}

// newFixture serves a UI on a loopback test server; its Addr is that
// server's, as the daemon's would be.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{api: &fakeAPI{}, vms: &fakeVMs{}, now: time.Unix(1_700_000_000, 0)}
	f.srv = &Server{API: f.api, VMs: f.vms, StatsEvery: 20 * time.Millisecond, Now: func() time.Time { return f.now }}
	f.http = httptest.NewUnstartedServer(nil)
	f.srv.Addr = f.http.Listener.Addr().String()
	f.http.Config.Handler = f.srv.Handler()
	f.http.Start()
	t.Cleanup(f.http.Close)
	t.Cleanup(f.vms.bus.Close)
	return f
}

// client never follows redirects, so a test sees /login's answer.
func client() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (f *fixture) loginURL(t *testing.T) string {
	t.Helper()
	return f.srv.Login(access.WithCaller(context.Background(), alice)).URL
}

// session logs in and returns the session cookie.
func (f *fixture) session(t *testing.T) *http.Cookie {
	t.Helper()
	resp, err := client().Get(f.loginURL(t))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			return c
		}
	}
	t.Fatalf("login set no %s cookie: %v", CookieName, resp.Header)
	return nil
}

func (f *fixture) do(t *testing.T, method, path string, ck *http.Cookie, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, f.http.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ck != nil {
		req.AddCookie(ck)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestLoginURLIsOnTheUIAddress(t *testing.T) {
	f := newFixture(t)
	u, err := url.Parse(f.loginURL(t))
	if err != nil || u.Scheme != "http" || u.Host != f.srv.Addr || u.Path != "/login" || len(u.Query().Get("token")) != 64 {
		t.Fatalf("login URL %v (%v)", u, err)
	}
}

func TestTokenBecomesAStrictHttpOnlyCookieOnce(t *testing.T) {
	f := newFixture(t)
	link := f.loginURL(t)
	resp, err := client().Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login answered %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	cks := resp.Cookies()
	if len(cks) != 1 || cks[0].Name != CookieName || !cks[0].HttpOnly || cks[0].SameSite != http.SameSiteStrictMode || cks[0].Path != "/" || len(cks[0].Value) != 64 {
		t.Fatalf("cookie %+v", cks)
	}
	if f.do(t, "GET", "/", cks[0], nil).StatusCode != http.StatusOK {
		t.Fatal("the session does not open the UI")
	}
	again, err := client().Get(link)
	if err != nil {
		t.Fatal(err)
	}
	again.Body.Close()
	if again.StatusCode != http.StatusUnauthorized || len(again.Cookies()) != 0 {
		t.Fatalf("a token used twice answered %d with cookies %v", again.StatusCode, again.Cookies())
	}
}

func TestTokenAndSessionExpire(t *testing.T) {
	f := newFixture(t)
	link := f.loginURL(t)
	f.now = f.now.Add(TokenTTL)
	if resp := f.do(t, "GET", strings.TrimPrefix(link, f.http.URL), nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an expired token answered %d", resp.StatusCode)
	}
	ck := f.session(t)
	f.now = f.now.Add(SessionTTL)
	if resp := f.do(t, "GET", "/", ck, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an expired session answered %d", resp.StatusCode)
	}
}

func TestWithoutASessionEverythingIs401(t *testing.T) {
	f := newFixture(t)
	bogus := &http.Cookie{Name: CookieName, Value: strings.Repeat("0", 64)}
	for _, path := range []string{"/", "/assets/app.js", "/api/v1/vms", "/ui/events", "/ui/console/a", "/ui/shell/a", "/login?token=nope", "/login"} {
		for _, ck := range []*http.Cookie{nil, bogus} {
			if resp := f.do(t, "GET", path, ck, nil); resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("GET %s (cookie %v) = %d, want 401", path, ck != nil, resp.StatusCode)
			}
		}
	}
	if got := f.api.requests(); len(got) != 0 {
		t.Errorf("the API was called without a session: %v", got)
	}
}

func TestHostMustBeTheUIAddress(t *testing.T) {
	f := newFixture(t)
	ck := f.session(t)
	_, port, _ := net.SplitHostPort(f.srv.Addr)
	for _, host := range []string{"evil.example:" + port, "localhost:" + port, "evil.example"} {
		resp := f.do(t, "GET", "/api/v1/vms", ck, map[string]string{"Host": host})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("Host %q: %d, want 403", host, resp.StatusCode)
		}
	}
	link := strings.TrimPrefix(f.loginURL(t), f.http.URL)
	if resp := f.do(t, "GET", link, nil, map[string]string{"Host": "evil.example:" + port}); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
		t.Errorf("login under a rebound name: %d %v", resp.StatusCode, resp.Cookies())
	}
	if got := f.api.requests(); len(got) != 0 {
		t.Errorf("the API was called for another Host: %v", got)
	}
}

func TestStateChangesNeedTheUIsOrigin(t *testing.T) {
	f := newFixture(t)
	ck := f.session(t)
	for _, hdr := range []map[string]string{
		nil,
		{"Origin": "http://evil.example"},
		{"Origin": "null"},
		{"Origin": "https://" + f.srv.Addr},
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
	} {
		for _, m := range []string{"POST", "DELETE", "PATCH", "PUT"} {
			if resp := f.do(t, m, "/api/v1/vms/x/stop", ck, hdr); resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s with %v: %d, want 403", m, hdr, resp.StatusCode)
			}
		}
	}
	if got := f.api.requests(); len(got) != 0 {
		t.Fatalf("the API was called cross-origin: %v", got)
	}
	f.do(t, "POST", "/api/v1/vms/x/stop", ck, map[string]string{"Origin": "http://" + f.srv.Addr})
	f.do(t, "DELETE", "/api/v1/vms/x", ck, map[string]string{"Sec-Fetch-Site": "same-origin"})
	got := f.api.requests()
	if len(got) != 2 || got[0] != "POST /v1/vms/x/stop" || got[1] != "DELETE /v1/vms/x" {
		t.Fatalf("same-origin requests reached the API as %v", got)
	}
}

func TestAPICallsRunAsTheSessionsUser(t *testing.T) {
	f := newFixture(t)
	ck := f.session(t)
	if resp := f.do(t, "GET", "/api/v1/vms", ck, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/vms: %d", resp.StatusCode)
	}
	f.api.mu.Lock()
	defer f.api.mu.Unlock()
	if len(f.api.callers) != 1 || f.api.callers[0] != alice {
		t.Fatalf("the API saw callers %+v, want %+v", f.api.callers, alice)
	}
}

func TestWebSocketUpgradesCheckTheOrigin(t *testing.T) {
	f := newFixture(t)
	ck := f.session(t)
	ws := map[string]string{"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
	for _, origin := range []string{"", "http://evil.example", "http://" + f.srv.Addr + ".evil.example"} {
		hdr := map[string]string{"Origin": origin}
		for k, v := range ws {
			hdr[k] = v
		}
		if resp := f.do(t, "GET", "/ui/shell/a", ck, hdr); resp.StatusCode != http.StatusForbidden {
			t.Errorf("WebSocket from origin %q: %d, want 403", origin, resp.StatusCode)
		}
	}
	if got := f.api.requests(); len(got) != 0 {
		t.Errorf("a refused upgrade reached the API: %v", got)
	}
}

// sseEvent reads the next event of an SSE stream.
func sseEvent(t *testing.T, r *bufio.Reader) (typ, data string) {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("event stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			typ = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		case line == "" && typ != "":
			return typ, data
		}
	}
}

func TestEventStreamPushesTheListOnEveryVMEvent(t *testing.T) {
	f := newFixture(t)
	f.api.set([]api.VM{{Name: "a", State: "stopped"}})
	ck := f.session(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.http.URL+"/ui/events", nil)
	req.AddCookie(ck)
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(resp.Body)
	typ, data := sseEvent(t, r)
	if typ != "vms" || !strings.Contains(data, `"name":"a"`) || !strings.Contains(data, `"state":"stopped"`) {
		t.Fatalf("first event %s %s", typ, data)
	}
	f.api.set([]api.VM{{Name: "a", State: "running"}})
	f.vms.bus.Publish(vm.Event{Kind: vm.VMStarted, Name: "a"})
	var sawList, sawStats bool
	for !sawList || !sawStats {
		typ, data = sseEvent(t, r)
		switch typ {
		case "vms":
			if !strings.Contains(data, `"state":"running"`) {
				t.Fatalf("list after the event: %s", data)
			}
			sawList = true
		case "stats":
			var st VMStats
			if err := json.Unmarshal([]byte(data), &st); err != nil || st.Name != "a" || st.Load1 != 0.5 || st.MemTotal != 100 {
				t.Fatalf("stats event %s (%v)", data, err)
			}
			sawStats = true
		}
	}
}

func TestHostPageShowsDoctorsChecks(t *testing.T) {
	f := newFixture(t)
	f.srv.Doctor = func(context.Context) doctor.Report {
		return doctor.Report{VMM: "qemu", Checks: []doctor.Check{
			{Name: "kvm", Status: vmm.CheckWarn, Detail: "no /dev/kvm", Fix: "load kvm"},
			{Name: "qemu", Status: vmm.CheckOK, Hard: true},
		}}
	}
	if resp := f.do(t, "GET", "/ui/host", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("host page without a session: %d", resp.StatusCode)
	}
	resp := f.do(t, "GET", "/ui/host", f.session(t), nil)
	var rep HostReport
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	want := HostReport{VMM: "qemu", Checks: []HostCheck{
		{Name: "kvm", Status: "warn", Detail: "no /dev/kvm", Fix: "load kvm"},
		{Name: "qemu", Status: "ok", Hard: true},
	}}
	if fmt.Sprint(rep) != fmt.Sprint(want) {
		t.Fatalf("host page %+v, want %+v", rep, want)
	}
}

func TestWorkspacePatchErrorsInTheAPIsWords(t *testing.T) {
	f := newFixture(t)
	ck := f.session(t)
	for path, want := range map[string]string{
		"/ui/workspace/plain/patch": "VM plain has no workspace",
		"/ui/workspace/ghost/patch": "no such thing",
	} {
		resp := f.do(t, "GET", path, ck, nil)
		var e api.Error
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode == http.StatusOK || !strings.Contains(e.Message, want) {
			t.Errorf("GET %s: %d %+v (%v), want an error saying %q", path, resp.StatusCode, e, err, want)
		}
	}
}
