package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"banger/internal/image/oci/ocitest"
)

// TestImportedImagesBoot pulls an image from a catalog served on loopback
// (bundles made by `image bundle`) and from an OCI layout built here, and
// boots each.
func TestImportedImagesBoot(t *testing.T) {
	catalogDir := t.TempDir()
	var srv *http.Server
	e := newEnv(t, "img", func(e *env) string {
		// The catalog server listens inside the namespace, where bangerd runs.
		var ln net.Listener
		e.inNetns(func() {
			var err error
			if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
		})
		srv = &http.Server{Handler: http.FileServer(http.Dir(catalogDir))}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		return fmt.Sprintf("catalog_url = \"http://%s/catalog.json\"\n", ln.Addr())
	})

	// Publish the default image and its kernel as a catalog.
	e.ok("image", "bundle", "debian-bookworm", "--out", catalogDir)
	e.ok("kernel", "bundle", "debian-bookworm", "--out", catalogDir)
	writeCatalog(t, catalogDir)
	if out := e.ok("image", "list", "--available"); !strings.Contains(out, "debian-bookworm") {
		t.Fatalf("catalog not visible:\n%s", out)
	}

	// Catalog pull, then boot.
	e.ok("image", "pull", "debian-bookworm", "--name", "cat-deb")
	out := e.ok("vm", "run", "--rm", "--image", "cat-deb", "--name", "e2e-cat", "--", "cat", "/etc/debian_version")
	if !strings.HasPrefix(strings.TrimSpace(lastLine(out)), "12.") {
		t.Errorf("catalog image: /etc/debian_version = %q", out)
	}

	// OCI layout built from the default image's files, then boot.
	dir := ociLayoutFromImage(t, filepath.Join(e.state, "images", "debian-bookworm", "rootfs.ext4"))
	e.ok("image", "pull", dir, "--name", "oci-deb")
	out = e.ok("vm", "run", "--rm", "--image", "oci-deb", "--name", "e2e-oci", "--", "sh", "-c", "test -x /usr/local/bin/banger-agent && echo agent-ok; id -un")
	if !strings.Contains(out, "agent-ok\nroot\n") {
		t.Errorf("OCI image run printed:\n%s", out)
	}
	if show := e.ok("image", "show", "oci-deb", "--json"); !strings.Contains(show, `"source": "`+dir) {
		t.Errorf("image show lacks the source:\n%s", show)
	}
	e.ok("image", "delete", "oci-deb")
	e.ok("image", "delete", "cat-deb")

	// The other two sources, with a small image: a registry on loopback
	// (inside the namespace) and a `docker save` archive.
	small := smallImage(t)
	var regAddr string
	e.inNetns(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		regAddr = ln.Addr().String()
		reg := registry.New()
		rs := &http.Server{Handler: reg}
		go rs.Serve(ln)
		t.Cleanup(func() { rs.Close() })
		// Push straight into the handler: remote.Write dials from goroutines
		// that would not be in the namespace.
		ref, err := name.ParseReference(regAddr+"/tools/small:1.0", name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, small, remote.WithTransport(handlerTransport{reg})); err != nil {
			t.Fatalf("push to the loopback registry: %v", err)
		}
	})
	e.ok("image", "pull", regAddr+"/tools/small:1.0")
	archive := ocitest.Archive(t, "example.org/small:1.0", small)
	e.ok("image", "pull", archive, "--name", "from-archive")
	list := e.ok("image", "list")
	for _, want := range []string{"small-1.0", "from-archive"} {
		if !strings.Contains(list, want) {
			t.Errorf("image list lacks %s:\n%s", want, list)
		}
	}
	e.ok("image", "delete", "small-1.0")
	e.ok("image", "delete", "from-archive")
	e.assertNoTrace()
}

// handlerTransport answers HTTP requests by calling a handler in process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	if r.Body == nil { // a server always sees a body
		r = r.Clone(r.Context())
		r.Body = http.NoBody
	}
	t.h.ServeHTTP(rec, r)
	res := rec.Result()
	res.Request = r // relative Location headers resolve against it
	return res, nil
}

// smallImage is a one-layer image with a few files, for pulls that need not
// boot.
func smallImage(t *testing.T) v1.Image {
	t.Helper()
	// A stand-in /bin/sh: without one the pull notes that commands cannot
	// run in the image.
	return ocitest.Image(t, "amd64", ocitest.FilesLayer(t, map[string]string{
		"etc/os-release": "ID=small\n", "bin/sh": "stand-in shell\n", "usr/bin/hello": "#!/bin/sh\necho hello\n",
	}))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// writeCatalog assembles catalog.json from the entry files `bundle` wrote.
func writeCatalog(t *testing.T, dir string) {
	t.Helper()
	cat := map[string]any{"version": 1, "images": []json.RawMessage{}, "kernels": []json.RawMessage{}}
	entries, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, p := range entries {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var probe map[string]any
		json.Unmarshal(b, &probe)
		key := "kernels"
		if _, ok := probe["kernel_ref"]; ok {
			key = "images"
		}
		cat[key] = append(cat[key].([]json.RawMessage), b)
	}
	b, _ := json.Marshal(cat)
	if err := os.WriteFile(filepath.Join(dir, "catalog.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ociLayoutFromImage mounts an ext4 image read-only and writes its files,
// with owners and modes, as a one-layer OCI image layout.
func ociLayoutFromImage(t *testing.T, rootfs string) string {
	t.Helper()
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-o", "loop,ro", rootfs, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot loop-mount %s to build an OCI image: %v: %s", rootfs, err, out)
	}
	defer exec.Command("umount", mnt).Run()
	layerPath := filepath.Join(t.TempDir(), "layer.tar.gz")
	writeLayer(t, mnt, layerPath)
	return ociLayout(t, "deb-layout", layerPath)
}
