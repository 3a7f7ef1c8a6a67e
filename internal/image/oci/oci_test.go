package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"banger/internal/digest"
	"banger/internal/image/oci/ocitest"
)

// entry is one tar entry of a test layer.
type entry struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	body     string
	link     string
	size     int64 // declared size when body is empty and the layer is truncated
}

func file(name, body string) entry {
	return entry{name: name, typ: tar.TypeReg, mode: 0o644, body: body}
}
func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }

var mtime = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// tarBytes builds a layer tarball. An entry with size > 0 and no body ends
// the archive right after its header (a "declared" size, never sent).
func tarBytes(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Linkname: e.link, ModTime: mtime, Format: tar.FormatPAX}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if e.size > 0 {
			h.Size = e.size
			if err := tw.WriteHeader(h); err != nil {
				t.Fatal(err)
			}
			return buf.Bytes() // truncated: the content never follows
		}
		if e.typ == tar.TypeChar {
			h.Devmajor, h.Devminor = 1, 3
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func layer(t *testing.T, entries ...entry) v1.Layer {
	t.Helper()
	return ocitest.Layer(t, tarBytes(t, entries))
}

// baseLayer is a tiny distribution: a shell, passwd/shadow, a setuid sudo.
func baseLayer(t *testing.T) v1.Layer {
	return layer(t,
		dir("bin"), dir("etc"), dir("usr"), dir("usr/bin"),
		entry{name: "bin/sh", typ: tar.TypeReg, mode: 0o755, body: "#!fake shell\n"},
		file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"),
		entry{name: "etc/shadow", typ: tar.TypeReg, mode: 0o640, gid: 42, body: "root:*:19000:0:99999:7:::\n"},
		entry{name: "usr/bin/sudo", typ: tar.TypeReg, mode: 0o4755, body: "sudo"},
		entry{name: "usr/bin/sh", typ: tar.TypeSymlink, link: "/bin/sh"},
		file("etc/os-release", "ID=debian\n"),
	)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: ownership from layers is applied with lchown")
	}
	for _, tool := range []string{"mkfs.ext4", "debugfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (e2fsprogs): %v", tool, err)
		}
	}
}

type env struct {
	opts     Options
	sentinel string
}

func newEnv(t *testing.T) env {
	t.Helper()
	base := t.TempDir()
	agent := filepath.Join(base, "banger-agent")
	if err := os.WriteFile(agent, []byte("#!agent\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sentinel := filepath.Join(base, "sentinel")
	if err := os.Mkdir(sentinel, 0o755); err != nil {
		t.Fatal(err)
	}
	return env{
		opts: Options{
			WorkDir:     filepath.Join(base, "work"),
			CacheDir:    filepath.Join(base, "cache"),
			AgentBinary: agent,
		},
		sentinel: sentinel,
	}
}

// debugfs runs a debugfs request against an ext4 file.
func debugfs(t *testing.T, img, req string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", req, img).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs %s: %v: %s", req, err, out)
	}
	return string(out)
}

var statRE = regexp.MustCompile(`Mode:\s+(\d+)[\s\S]*User:\s+(\d+)\s+Group:\s+(\d+)`)

// stat returns "mode uid gid" of path in img, or "" when it is missing.
func stat(t *testing.T, img, p string) string {
	out := debugfs(t, img, "stat "+p)
	if strings.Contains(out, "File not found") {
		return ""
	}
	m := statRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("cannot parse debugfs stat of %s: %s", p, out)
	}
	return m[1] + " " + m[2] + ":" + m[3]
}

func mustParse(t *testing.T, ref string) Source {
	t.Helper()
	s, err := ParseSource(ref)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func layeredImage(t *testing.T) v1.Image {
	l2 := layer(t,
		dir("keep"), file("keep/a", "a"), file("gone.txt", "gone"),
		dir("opq"), file("opq/old1", "old"), dir("opq/sub"), file("opq/sub/old2", "old"),
	)
	l3 := layer(t,
		file(".wh.gone.txt", ""),
		file("keep/b", "b"),
		dir("opq"), file("opq/new", "new"), file("opq/.wh..wh..opq", ""),
	)
	return ocitest.Image(t, "amd64", baseLayer(t), l2, l3)
}

func TestParseSource(t *testing.T) {
	lay := ocitest.Layout(t, "layout", ocitest.Image(t, "amd64", baseLayer(t)))
	arch := ocitest.Archive(t, "example.test/img:1", ocitest.Image(t, "amd64", baseLayer(t)))
	for _, c := range []struct {
		ref  string
		kind Kind
		bad  bool
	}{
		{lay, KindLayout, false},
		{arch, KindDockerArchive, false},
		{"debian:12", KindRegistry, false},
		{"127.0.0.1:5000/x/y@sha256:" + strings.Repeat("a", 64), KindRegistry, false},
		{t.TempDir(), 0, true},       // a directory without oci-layout
		{"UPPER/Case::bad", 0, true}, // neither a path nor a reference
		{"", 0, true},
	} {
		s, err := ParseSource(c.ref)
		if c.bad {
			if err == nil {
				t.Errorf("ParseSource(%q) = %v, want an error", c.ref, s)
			}
			continue
		}
		if err != nil || s.Kind != c.kind {
			t.Errorf("ParseSource(%q) = %v, %v; want kind %v", c.ref, s, err, c.kind)
		}
	}
}

func TestImportLayoutAndArchive(t *testing.T) {
	needRoot(t)
	img := layeredImage(t)
	want, _ := img.Digest()
	for _, c := range []struct {
		name string
		ref  string
	}{
		{"layout", ocitest.Layout(t, "layout", img)},
		{"docker-archive", ocitest.Archive(t, "example.test/img:1", img)},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			res, err := Import(context.Background(), mustParse(t, c.ref), e.opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Digest != want.String() {
				t.Errorf("digest %s, want %s", res.Digest, want)
			}
			if res.Init != AgentInit {
				t.Errorf("Init = %q, want %q (the image has no systemd)", res.Init, AgentInit)
			}
			if res.SizeBytes != minRootfs {
				t.Errorf("size %d, want the 1 GiB minimum", res.SizeBytes)
			}
			fi, err := os.Stat(res.Rootfs)
			if err != nil || fi.Size() != res.SizeBytes {
				t.Fatalf("rootfs %s: %v, %v", res.Rootfs, fi, err)
			}
			r := res.Rootfs
			for p, want := range map[string]string{
				"/etc/shadow":                 "0640 0:42",
				"/usr/bin/sudo":               "04755 0:0",
				"/keep/a":                     "0644 0:0",
				"/keep/b":                     "0644 0:0",
				"/opq/new":                    "0644 0:0",
				"/gone.txt":                   "",
				"/opq/old1":                   "",
				"/opq/sub":                    "",
				"/sbin/banger-init":           "",
				"/etc/banger/init":            "0644 0:0",
				"/usr/local/bin/banger-agent": "0755 0:0",
			} {
				if got := stat(t, r, p); got != want {
					t.Errorf("%s: got %q, want %q", p, got, want)
				}
			}
			if out := debugfs(t, r, "stat /usr/bin/sh"); !strings.Contains(out, "Type: symlink") || !strings.Contains(out, `Fast link dest: "/bin/sh"`) {
				t.Errorf("/usr/bin/sh is not the symlink to /bin/sh: %s", out)
			}
			if out := debugfs(t, r, "cat /etc/shadow"); !strings.HasPrefix(strings.SplitN(out, "\n", 2)[1], "root:!*:") && !strings.Contains(out, "root:!*:") {
				t.Errorf("root password not locked: %s", out)
			}
			if out := debugfs(t, r, "stat /keep/a"); !strings.Contains(out, "mtime: 0x"+hex32(mtime.Unix())) {
				t.Errorf("mtime of /keep/a not preserved: %s", out)
			}
			if out := debugfs(t, r, "stat /etc/fstab"); strings.Contains(out, "File not found") {
				t.Error("no /etc/fstab injected")
			}
			entries, _ := os.ReadDir(e.opts.WorkDir)
			if len(entries) != 1 || entries[0].Name() != "out" {
				t.Errorf("work dir holds %v, want only out/", entries)
			}
			// The layer blobs are cached by digest and reused.
			ls, _ := img.Layers()
			for _, l := range ls {
				d, _ := l.Digest()
				if _, err := os.Stat(filepath.Join(e.opts.CacheDir, "sha256", d.Hex)); err != nil {
					t.Errorf("layer %s not cached: %v", d, err)
				}
			}
		})
	}
}

func hex32(v int64) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b)
}

func TestCorruptCacheIsReplaced(t *testing.T) {
	needRoot(t)
	img := ocitest.Image(t, "amd64", baseLayer(t))
	src := mustParse(t, ocitest.Layout(t, "layout", img))
	e := newEnv(t)
	ls, _ := img.Layers()
	d, _ := ls[0].Digest()
	blob := filepath.Join(e.opts.CacheDir, "sha256", d.Hex)
	if err := os.MkdirAll(filepath.Dir(blob), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(blob, []byte("not the layer"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(context.Background(), src, e.opts); err != nil {
		t.Fatal(err)
	}
	if sum, _ := digest.File(blob); sum != d.Hex {
		t.Errorf("cached blob has sha256 %s, want %s", sum, d.Hex)
	}
}

func TestImportRegistryMultiArch(t *testing.T) {
	needRoot(t)
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	if !isLoopback(host) {
		t.Fatalf("test registry is not on loopback: %s", host)
	}
	amd := ocitest.Image(t, "amd64", baseLayer(t), layer(t, file("arch", "amd64")))
	arm := ocitest.Image(t, "arm64", baseLayer(t), layer(t, file("arch", "arm64")))
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: arm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64"}}},
		mutate.IndexAddendum{Add: amd, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	ref, err := name.ParseReference(host + "/test/multi:latest")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	src := mustParse(t, ref.String())
	if src.Kind != KindRegistry {
		t.Fatalf("kind %v", src.Kind)
	}

	// Plain HTTP is refused unless asked for.
	e := newEnv(t)
	if _, err := Import(context.Background(), src, e.opts); err == nil || !strings.Contains(err.Error(), "plain-HTTP") {
		t.Fatalf("import over plain HTTP without PlainHTTP: %v", err)
	}

	e = newEnv(t)
	e.opts.PlainHTTP = true
	res, err := Import(context.Background(), src, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := amd.Digest()
	if res.Digest != want.String() {
		t.Errorf("picked %s, want the amd64 image %s", res.Digest, want)
	}
	if out := debugfs(t, res.Rootfs, "cat /arch"); !strings.Contains(out, "amd64") {
		t.Errorf("/arch = %q", out)
	}

	// The same index as an OCI layout.
	p, err := layout.Write(filepath.Join(t.TempDir(), "multi"), idx)
	if err != nil {
		t.Fatal(err)
	}
	e = newEnv(t)
	res, err = Import(context.Background(), mustParse(t, string(p)), e.opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != want.String() {
		t.Errorf("layout: picked %s, want the amd64 image %s", res.Digest, want)
	}
}

func TestImportOnlyOtherArch(t *testing.T) {
	e := newEnv(t)
	arm := ocitest.Image(t, "arm64", baseLayer(t))
	_, err := Import(context.Background(), mustParse(t, ocitest.Layout(t, "layout", arm)), e.opts)
	if err == nil || !strings.Contains(err.Error(), "arm64") {
		t.Fatalf("importing an arm64-only image: %v", err)
	}
}

// TestHostileLayers checks that each hostile entry is refused or
// neutralised and that nothing lands outside the work dir.
func TestHostileLayers(t *testing.T) {
	needRoot(t)
	cases := []struct {
		name    string
		entries func(sentinel string) []entry
		refused bool   // Import must fail with ErrUnsafeLayer
		absent  string // path that must not exist in the image
		present string // path that must exist in the image (neutralised); $S is the sentinel dir
	}{
		{"dotdot", func(s string) []entry {
			return []entry{file("../../../../../../../../"+strings.TrimPrefix(s, "/")+"/escape", "x")}
		}, true, "", ""},
		{"dotdot-inside", func(s string) []entry {
			return []entry{dir("a"), file("a/../../escape", "x")}
		}, true, "", ""},
		{"absolute", func(s string) []entry {
			return []entry{file(s+"/abs", "x")}
		}, false, "", "$S/abs"},
		{"symlink-dir-absolute", func(s string) []entry {
			return []entry{{name: "evil", typ: tar.TypeSymlink, link: s}, file("evil/pwned", "x")}
		}, false, "/evil/pwned", "/evil"},
		{"symlink-dir-relative", func(s string) []entry {
			return []entry{{name: "evil", typ: tar.TypeSymlink, link: "../../../../../../../.." + s}, file("evil/pwned", "x")}
		}, false, "/evil/pwned", "/evil"},
		{"symlink-then-replace", func(s string) []entry {
			// A symlink at a file's path is replaced, never written through.
			return []entry{{name: "f", typ: tar.TypeSymlink, link: s + "/through"}, file("f", "x")}
		}, false, "", "/f"},
		{"hardlink-outside", func(s string) []entry {
			return []entry{{name: "hl", typ: tar.TypeLink, link: "../../../../../../etc/passwd"}}
		}, true, "", ""},
		{"hardlink-missing", func(s string) []entry {
			return []entry{{name: "hl", typ: tar.TypeLink, link: "/no/such/file"}}
		}, true, "", ""},
		{"hardlink-through-symlink", func(s string) []entry {
			return []entry{{name: "ln", typ: tar.TypeSymlink, link: "/etc"}, {name: "hl", typ: tar.TypeLink, link: "ln/passwd"}}
		}, true, "", ""},
		{"char-device", func(s string) []entry {
			return []entry{dir("dev"), {name: "dev/evil", typ: tar.TypeChar, mode: 0o666}}
		}, false, "/dev/evil", "/dev"},
		{"huge-declared-file", func(s string) []entry {
			return []entry{{name: "huge", typ: tar.TypeReg, mode: 0o644, size: 10 << 30}}
		}, true, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			img := ocitest.Image(t, "amd64", baseLayer(t), layer(t, c.entries(e.sentinel)...))
			res, err := Import(context.Background(), mustParse(t, ocitest.Layout(t, "layout", img)), e.opts)
			if c.refused {
				if !errors.Is(err, ErrUnsafeLayer) {
					t.Fatalf("Import = %v, want ErrUnsafeLayer", err)
				}
				entries, _ := os.ReadDir(e.opts.WorkDir)
				if len(entries) != 0 {
					t.Errorf("work dir not cleaned up: %v", entries)
				}
			} else {
				if err != nil {
					t.Fatalf("Import: %v", err)
				}
				if c.absent != "" && stat(t, res.Rootfs, c.absent) != "" {
					t.Errorf("%s exists in the image", c.absent)
				}
				if p := strings.ReplaceAll(c.present, "$S", e.sentinel); p != "" && stat(t, res.Rootfs, p) == "" {
					t.Errorf("%s missing from the image", c.present)
				}
			}
			if entries, _ := os.ReadDir(e.sentinel); len(entries) != 0 {
				t.Errorf("written outside the work dir: %v", entries)
			}
		})
	}
}

func TestSizeOverrideAndLimits(t *testing.T) {
	needRoot(t)
	img := ocitest.Image(t, "amd64", baseLayer(t), layer(t, file("big", strings.Repeat("x", 4096))))
	src := mustParse(t, ocitest.Layout(t, "layout", img))

	e := newEnv(t)
	e.opts.SizeBytes = 1536 << 20
	res, err := Import(context.Background(), src, e.opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.SizeBytes != 1536<<20 {
		t.Errorf("size %d, want the override", res.SizeBytes)
	}

	e = newEnv(t)
	e.opts.Limits.MaxFileBytes = 1024
	if _, err := Import(context.Background(), src, e.opts); !errors.Is(err, ErrUnsafeLayer) {
		t.Errorf("file over MaxFileBytes: %v", err)
	}
	e = newEnv(t)
	e.opts.Limits.MaxTotalBytes = 2048
	if _, err := Import(context.Background(), src, e.opts); !errors.Is(err, ErrUnsafeLayer) {
		t.Errorf("content over MaxTotalBytes: %v", err)
	}
}
