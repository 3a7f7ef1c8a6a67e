package catalog

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/klauspost/compress/zstd"

	"banger/internal/digest"
)

func writeTemp(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// rootfsBytes is a stand-in rootfs: some data, then a long zero run.
func rootfsBytes() []byte {
	b := bytes.Repeat([]byte("ext4"), 1<<14)
	return append(b, make([]byte, 1<<20)...)
}

func imageBundle(t *testing.T, outDir string) Entry {
	t.Helper()
	e, err := WriteBundle(BundleSpec{
		Kind: KindImage, Name: "alpine-3.20", Distro: "alpine", KernelRef: "vmlinux-6.1",
		Files: map[string]string{RootfsFile: writeTemp(t, "rootfs.ext4", rootfsBytes())},
	}, outDir)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// serve serves dir on loopback, counting requests.
func serve(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server not on loopback: %s", srv.URL)
	}
	return srv, &n
}

func assertEmpty(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("%s not empty: %v", dir, entries)
	}
}

func TestWriteFetchUnpackImage(t *testing.T) {
	pub := t.TempDir()
	e := imageBundle(t, pub)
	if want := BundleFileName("alpine-3.20", "amd64", e.BundleSHA256); filepath.Base(e.File) != want || e.BundleURL != want {
		t.Errorf("bundle named %s (url %s), want %s", e.File, e.BundleURL, want)
	}
	if !strings.HasSuffix(e.File, ".tar.zst") || len(strings.Split(strings.TrimSuffix(filepath.Base(e.File), ".tar.zst"), "-")) < 3 {
		t.Errorf("bundle name %s", e.File)
	}
	srv, _ := serve(t, http.FileServer(http.Dir(pub)))
	e.BundleURL = srv.URL + "/" + e.BundleURL

	cache := t.TempDir()
	var last, total int64
	var f Fetcher
	p, err := f.Fetch(context.Background(), e, cache, func(d, tot int64) { last, total = d, tot })
	if err != nil {
		t.Fatal(err)
	}
	if last != e.SizeBytes || total != e.SizeBytes {
		t.Errorf("progress ended at %d/%d, want %d/%d", last, total, e.SizeBytes, e.SizeBytes)
	}
	dst := filepath.Join(t.TempDir(), "images", "alpine-3.20")
	m, err := Unpack(p, dst)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindImage || m.Name != "alpine-3.20" || m.Arch != "amd64" {
		t.Errorf("manifest %+v", m)
	}
	got, err := os.ReadFile(filepath.Join(dst, RootfsFile))
	if err != nil || !bytes.Equal(got, rootfsBytes()) {
		t.Fatalf("unpacked rootfs differs (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(dst, ManifestFile)); err != nil {
		t.Error(err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(dst)); len(entries) != 1 {
		t.Errorf("leftovers next to the unpacked dir: %v", entries)
	}
	if _, err := Unpack(p, dst); err == nil {
		t.Error("Unpack over an existing dir succeeded")
	}
}

func TestKernelBundle(t *testing.T) {
	pub := t.TempDir()
	e, err := WriteBundle(BundleSpec{Kind: KindKernel, Name: "vmlinux-6.1", Version: "6.1.100", Files: map[string]string{
		VmlinuxFile: writeTemp(t, "vmlinux", []byte("ELF kernel")),
		InitrdFile:  writeTemp(t, "initrd.img", []byte("initrd")),
	}}, pub)
	if err != nil {
		t.Fatal(err)
	}
	k := e.Kernel()
	srv, _ := serve(t, http.FileServer(http.Dir(pub)))
	k.BundleURL = srv.URL + "/" + k.BundleURL
	var f Fetcher
	p, err := f.Fetch(context.Background(), k.Entry(), t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "k")
	m, err := Unpack(p, dst)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kind != KindKernel || m.Version != "6.1.100" {
		t.Errorf("manifest %+v", m)
	}
	for n, want := range map[string]string{VmlinuxFile: "ELF kernel", InitrdFile: "initrd"} {
		if got, _ := os.ReadFile(filepath.Join(dst, n)); string(got) != want {
			t.Errorf("%s = %q", n, got)
		}
	}
	// Both vmlinuz and vmlinux, or an image file, make a bad kernel bundle.
	if _, err := WriteBundle(BundleSpec{Kind: KindKernel, Name: "k", Files: map[string]string{
		VmlinuxFile: writeTemp(t, "a", nil), VmlinuzFile: writeTemp(t, "b", nil)}}, pub); !errors.Is(err, ErrBadBundle) {
		t.Errorf("two kernels: %v", err)
	}
	if _, err := WriteBundle(BundleSpec{Kind: KindKernel, Name: "k", Files: map[string]string{
		RootfsFile: writeTemp(t, "a", nil)}}, pub); !errors.Is(err, ErrBadBundle) {
		t.Errorf("rootfs in a kernel bundle: %v", err)
	}
}

func TestFetchCachedAndShared(t *testing.T) {
	pub := t.TempDir()
	e := imageBundle(t, pub)
	release := make(chan struct{})
	arrived := make(chan struct{}, 4)
	fs := http.FileServer(http.Dir(pub))
	srv, n := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		fs.ServeHTTP(w, r)
	}))
	e.BundleURL = srv.URL + "/" + e.BundleURL
	cache := t.TempDir()
	joined := make(chan struct{}, 1)
	f := &Fetcher{joined: func() { joined <- struct{}{} }}

	var wg sync.WaitGroup
	paths := make([]string, 2)
	errs := make([]error, 2)
	var bProgress atomic.Int64
	wg.Add(1)
	go func() { defer wg.Done(); paths[0], errs[0] = f.Fetch(context.Background(), e, cache, nil) }()
	<-arrived // the first download is under way and held
	wg.Add(1)
	go func() {
		defer wg.Done()
		paths[1], errs[1] = f.Fetch(context.Background(), e, cache, func(d, _ int64) { bProgress.Store(d) })
	}()
	<-joined // the second caller joined it
	close(release)
	wg.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
	}
	if paths[0] != paths[1] {
		t.Errorf("paths differ: %v", paths)
	}
	if got := n.Load(); got != 1 {
		t.Errorf("%d downloads for two concurrent fetches, want 1", got)
	}
	if bProgress.Load() != e.SizeBytes {
		t.Errorf("joined caller saw progress %d, want %d", bProgress.Load(), e.SizeBytes)
	}
	// A later fetch is served from the cache.
	if _, err := f.Fetch(context.Background(), e, cache, nil); err != nil || n.Load() != 1 {
		t.Errorf("cached fetch: %v, %d downloads", err, n.Load())
	}
	// A corrupted cache file is detected and replaced.
	if err := os.WriteFile(paths[0], []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := f.Fetch(context.Background(), e, cache, nil)
	if err != nil || n.Load() != 2 {
		t.Fatalf("refetch after corruption: %v, %d downloads", err, n.Load())
	}
	if sum, _ := digest.File(p); sum != e.BundleSHA256 {
		t.Errorf("cache holds sha256 %s", sum)
	}
}

func TestFetchRejectsBadDownloads(t *testing.T) {
	pub := t.TempDir()
	e := imageBundle(t, pub)
	data, err := os.ReadFile(e.File)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		handler http.HandlerFunc
		entry   func(Entry) Entry
		want    string
	}{
		{"sha-mismatch", func(w http.ResponseWriter, r *http.Request) { w.Write(data) },
			func(e Entry) Entry { e.BundleSHA256 = strings.Repeat("0", 64); return e }, "sha256 mismatch"},
		{"truncated", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data[:len(data)/2])
		}, func(e Entry) Entry { return e }, "truncated"},
		{"short-but-complete-response", func(w http.ResponseWriter, r *http.Request) { w.Write(data[:len(data)/2]) },
			func(e Entry) Entry { return e }, "truncated"},
		{"too-long", func(w http.ResponseWriter, r *http.Request) { w.Write(append(data, 'x')) },
			func(e Entry) Entry { return e }, "larger than"},
		{"http-error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "nope", http.StatusNotFound) },
			func(e Entry) Entry { return e }, "404"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv, _ := serve(t, c.handler)
			en := c.entry(e)
			en.BundleURL = srv.URL + "/b.tar.zst"
			cache := t.TempDir()
			var f Fetcher
			p, err := f.Fetch(context.Background(), en, cache, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Fetch = %q, %v; want an error containing %q", p, err, c.want)
			}
			assertEmpty(t, cache)
		})
	}
}

type tentry struct {
	name string
	typ  byte
	body string
	link string
}

// hostileBundle builds a .tar.zst from raw entries, with a manifest that
// lists rootfs.ext4 correctly so only the hostile part is wrong.
func hostileBundle(t *testing.T, entries []tentry) string {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := zstd.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Linkname: e.link}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if e.typ == tar.TypeChar {
			h.Devmajor, h.Devminor = 1, 3
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	zw.Close()
	return writeTemp(t, "hostile.tar.zst", buf.Bytes())
}

func manifestFor(files map[string]string) string {
	var b strings.Builder
	b.WriteString(`{"kind":"image","name":"x","arch":"amd64","files":{`)
	first := true
	for n, body := range files {
		if !first {
			b.WriteString(",")
		}
		first = false
		s := sha256.Sum256([]byte(body))
		b.WriteString(`"` + n + `":"` + hex.EncodeToString(s[:]) + `"`)
	}
	b.WriteString("}}")
	return b.String()
}

func TestUnpackRejectsHostileBundles(t *testing.T) {
	good := manifestFor(map[string]string{RootfsFile: "fs"})
	mf := tentry{name: ManifestFile, typ: tar.TypeReg, body: good}
	rootfs := tentry{name: RootfsFile, typ: tar.TypeReg, body: "fs"}
	for _, c := range []struct {
		name    string
		entries []tentry
	}{
		{"dotdot", []tentry{mf, rootfs, {name: "../escape", typ: tar.TypeReg, body: "x"}}},
		{"dotdot-allowed-name", []tentry{mf, {name: "../" + RootfsFile, typ: tar.TypeReg, body: "fs"}}},
		{"absolute", []tentry{mf, {name: "/" + RootfsFile, typ: tar.TypeReg, body: "fs"}}},
		{"symlink", []tentry{mf, {name: RootfsFile, typ: tar.TypeSymlink, link: "/etc/passwd"}}},
		{"hardlink", []tentry{mf, {name: RootfsFile, typ: tar.TypeLink, link: "/etc/passwd"}}},
		{"extra-file", []tentry{mf, rootfs, {name: "evil.sh", typ: tar.TypeReg, body: "rm -rf /"}}},
		{"directory", []tentry{mf, rootfs, {name: "sub/", typ: tar.TypeDir}}},
		{"device", []tentry{mf, {name: RootfsFile, typ: tar.TypeChar}}},
		{"duplicate", []tentry{mf, rootfs, rootfs}},
		{"kernel-in-image", []tentry{mf, rootfs, {name: VmlinuxFile, typ: tar.TypeReg, body: "k"}}},
		{"sha-mismatch", []tentry{mf, {name: RootfsFile, typ: tar.TypeReg, body: "tampered"}}},
		{"no-manifest", []tentry{rootfs}},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := hostileBundle(t, c.entries)
			parent := t.TempDir()
			dst := filepath.Join(parent, "img")
			if _, err := Unpack(b, dst); !errors.Is(err, ErrBadBundle) {
				t.Fatalf("Unpack = %v, want ErrBadBundle", err)
			}
			assertEmpty(t, parent)
			if _, err := os.Lstat(filepath.Join(filepath.Dir(parent), "escape")); err == nil {
				t.Error("an entry escaped the parent dir")
			}
		})
	}
}

func TestLoadMergesRemote(t *testing.T) {
	sha := strings.Repeat("a", 64)
	emb := []byte(`{"version":1,"images":[
		{"name":"debian-12","arch":"amd64","bundle_url":"https://example.com/d.tar.zst","bundle_sha256":"` + sha + `","size_bytes":1,"description":"old"},
		{"name":"alpine","arch":"amd64","bundle_url":"https://example.com/a.tar.zst","bundle_sha256":"` + sha + `","size_bytes":1}],
		"kernels":[{"name":"k1","version":"6.1","bundle_url":"https://example.com/k.tar.zst","bundle_sha256":"` + sha + `","size_bytes":1}]}`)
	remote := `{"version":1,"images":[
		{"name":"debian-12","arch":"amd64","bundle_url":"bundles/d2.tar.zst","bundle_sha256":"` + sha + `","size_bytes":1,"description":"new"},
		{"name":"fedora","arch":"amd64","bundle_url":"https://mirror.example/f.tar.zst","bundle_sha256":"` + sha + `","size_bytes":1}]}`
	srv, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(remote)) }))
	c, err := Load(context.Background(), nil, emb, srv.URL+"/pub/catalog.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Images) != 3 || len(c.Kernels) != 1 {
		t.Fatalf("merged catalog %+v", c)
	}
	d, ok := c.FindImage("debian-12", "amd64")
	if !ok || d.Description != "new" || d.BundleURL != srv.URL+"/pub/bundles/d2.tar.zst" {
		t.Errorf("debian-12 = %+v", d)
	}
	if _, ok := c.FindImage("alpine", "amd64"); !ok {
		t.Error("embedded alpine lost")
	}

	// A broken remote leaves the embedded catalog and reports why.
	bad, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"version":1,"images":[{"name":"../x"}]}`))
	}))
	c, err = Load(context.Background(), nil, emb, bad.URL)
	if err == nil || len(c.Images) != 2 {
		t.Errorf("bad remote: %v, %d images", err, len(c.Images))
	}
	if _, err := Load(context.Background(), nil, Embedded(), ""); err != nil {
		t.Errorf("the embedded catalog does not parse: %v", err)
	}
}
