package catalog

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// fakeWeb answers requests in memory, by URL, and records them: no
// request leaves the test.
type fakeWeb struct {
	mu     sync.Mutex
	asked  []string
	answer map[string]func() *http.Response
}

func (f *fakeWeb) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.asked = append(f.asked, req.URL.String())
	f.mu.Unlock()
	a, ok := f.answer[req.URL.String()]
	if !ok {
		return nil, errors.New("fakeWeb: no such URL " + req.URL.String())
	}
	resp := a()
	resp.Request = req
	return resp, nil
}

func (f *fakeWeb) requested(u string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.asked {
		if a == u {
			return true
		}
	}
	return false
}

func body(s string) *http.Response {
	return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{},
		Body: io.NopCloser(strings.NewReader(s)), ContentLength: int64(len(s))}
}

const evilCatalog = `{"version":1,"images":[{"name":"evil","arch":"amd64","bundle_url":"http://evil.test/e.tar.zst",
	"bundle_sha256":"` + "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee" + `","size_bytes":1}]}`

// TestRemoteCatalogMustBeHTTPS: a plain-http catalog is not fetched at all;
// banger keeps its built-in catalog and says why.
func TestRemoteCatalogMustBeHTTPS(t *testing.T) {
	web := &fakeWeb{answer: map[string]func() *http.Response{
		"http://images.example.org/catalog.json": func() *http.Response { return body(evilCatalog) },
	}}
	c, err := Load(context.Background(), &http.Client{Transport: web}, Embedded(), "http://images.example.org/catalog.json")
	if err == nil || !strings.Contains(err.Error(), "https") {
		t.Fatalf("Load over http = %v, want an error asking for https", err)
	}
	if _, ok := c.FindImage("evil", "amd64"); ok || len(web.asked) != 0 {
		t.Fatalf("the http catalog was fetched (%v) or used", web.asked)
	}
}

// TestCatalogRedirectToHTTPRefused: an https catalog that redirects to
// plain http is refused before the http request is made.
func TestCatalogRedirectToHTTPRefused(t *testing.T) {
	web := &fakeWeb{answer: map[string]func() *http.Response{
		"https://images.example.org/catalog.json": func() *http.Response {
			return &http.Response{StatusCode: http.StatusFound, Status: "302 Found", Body: http.NoBody,
				Header: http.Header{"Location": {"http://evil.test/catalog.json"}}}
		},
		"http://evil.test/catalog.json": func() *http.Response { return body(evilCatalog) },
	}}
	c, err := Load(context.Background(), &http.Client{Transport: web}, Embedded(), "https://images.example.org/catalog.json")
	if err == nil || !strings.Contains(err.Error(), "refused redirect") {
		t.Fatalf("Load = %v, want a refused redirect", err)
	}
	if _, ok := c.FindImage("evil", "amd64"); ok || web.requested("http://evil.test/catalog.json") {
		t.Fatalf("followed the redirect to http: %v", web.asked)
	}

	// An https redirect is followed.
	web.answer["https://images.example.org/catalog.json"] = func() *http.Response {
		return &http.Response{StatusCode: http.StatusFound, Status: "302 Found", Body: http.NoBody,
			Header: http.Header{"Location": {"https://mirror.example.org/catalog.json"}}}
	}
	web.answer["https://mirror.example.org/catalog.json"] = func() *http.Response { return body(evilCatalog) }
	if c, err = Load(context.Background(), &http.Client{Transport: web}, Embedded(), "https://images.example.org/catalog.json"); err != nil {
		t.Fatalf("https redirect: %v", err)
	}
	if _, ok := c.FindImage("evil", "amd64"); !ok {
		t.Error("the catalog behind an https redirect was not loaded")
	}
}

// TestEntryMustGiveSize: an entry without a positive size_bytes makes the
// catalog invalid, and Fetch refuses such an entry without a request.
func TestEntryMustGiveSize(t *testing.T) {
	sha := strings.Repeat("a", 64)
	for _, size := range []string{``, `,"size_bytes":0`, `,"size_bytes":-1`} {
		for _, doc := range []string{
			`{"version":1,"images":[{"name":"x","arch":"amd64","bundle_url":"https://e.org/x.tar.zst","bundle_sha256":"` + sha + `"` + size + `}]}`,
			`{"version":1,"kernels":[{"name":"k","bundle_url":"https://e.org/k.tar.zst","bundle_sha256":"` + sha + `"` + size + `}]}`,
		} {
			if _, err := Parse([]byte(doc), ""); err == nil || !strings.Contains(err.Error(), "size_bytes") {
				t.Errorf("Parse(%s) = %v, want a size_bytes error", doc, err)
			}
		}
	}

	web := &fakeWeb{answer: map[string]func() *http.Response{
		"https://e.org/x.tar.zst": func() *http.Response { return body("bundle") },
	}}
	e := Entry{Kind: KindImage, Name: "x", Arch: "amd64", BundleURL: "https://e.org/x.tar.zst",
		BundleSHA256: "d1ff4bc2c48d1e8a4ad8b4bb8e5e0df38b81a2b0a1e18f36b5ee6e5c2a7e18d3"}
	f := Fetcher{Client: &http.Client{Transport: web}}
	cache := t.TempDir()
	if _, err := f.Fetch(context.Background(), e, cache, nil); err == nil || !strings.Contains(err.Error(), "size_bytes") {
		t.Fatalf("Fetch without a size = %v, want a size_bytes error", err)
	}
	if len(web.asked) != 0 {
		t.Errorf("downloaded %v for an entry without a size", web.asked)
	}
	assertEmpty(t, cache)
}

// endless is a body that never ends, counting what was read of it.
type endless struct {
	mu sync.Mutex
	n  int64
}

func (e *endless) Read(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range p {
		p[i] = 'x'
	}
	e.n += int64(len(p))
	return len(p), nil
}

func (e *endless) Close() error { return nil }

// TestFetchReadsAtMostSize: the catalog's size bounds the read of a
// bundle whose server sends without end and announces no length.
func TestFetchReadsAtMostSize(t *testing.T) {
	src := &endless{}
	web := &fakeWeb{answer: map[string]func() *http.Response{
		"https://e.org/x.tar.zst": func() *http.Response {
			return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{}, Body: src, ContentLength: -1}
		},
		"https://e.org/announced.tar.zst": func() *http.Response {
			return &http.Response{StatusCode: http.StatusOK, Status: "200 OK", Header: http.Header{}, Body: src, ContentLength: 1 << 40}
		},
	}}
	e := Entry{Kind: KindImage, Name: "x", Arch: "amd64", BundleURL: "https://e.org/x.tar.zst",
		BundleSHA256: strings.Repeat("a", 64), SizeBytes: 1000}
	f := Fetcher{Client: &http.Client{Transport: web}}
	cache := t.TempDir()
	if _, err := f.Fetch(context.Background(), e, cache, nil); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Fetch = %v, want a too-large error", err)
	}
	if src.n != e.SizeBytes+1 {
		t.Errorf("read %d bytes of an endless body, want %d (size + 1)", src.n, e.SizeBytes+1)
	}
	assertEmpty(t, cache)

	// A length announced larger than the size is refused before reading.
	src.n = 0
	e.BundleURL = "https://e.org/announced.tar.zst"
	if _, err := f.Fetch(context.Background(), e, cache, nil); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Fetch = %v, want a too-large error", err)
	}
	if src.n != 0 {
		t.Errorf("read %d bytes of a body announced too large", src.n)
	}
	assertEmpty(t, cache)
}
