package catalog

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// seedBundle is the tar of a valid image bundle.
func seedBundle(tb testing.TB) []byte {
	rootfs := []byte("not really ext4")
	sum := sha256.Sum256(rootfs)
	mdata, err := json.Marshal(Manifest{Kind: KindImage, Name: "tiny", Arch: "amd64", Files: map[string]string{RootfsFile: hex.EncodeToString(sum[:])}})
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		data []byte
	}{{ManifestFile, mdata}, {RootfsFile, rootfs}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.data))}); err != nil {
			tb.Fatal(err)
		}
		tw.Write(f.data)
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzUnpack feeds arbitrary tar streams, compressed as a bundle, to
// Unpack. Whatever they hold, it does not panic; on error it leaves
// nothing behind; on success the target holds only the manifest and the
// files it lists, with the sha256 it gives, and nothing appears beside it.
func FuzzUnpack(f *testing.F) {
	f.Add(seedBundle(f))
	f.Fuzz(func(t *testing.T, tarball []byte) {
		base := t.TempDir()
		bundle := filepath.Join(base, "bundle.tar.zst")
		writeZstd(t, bundle, tarball)
		dst := filepath.Join(base, "out", "img")
		m, err := Unpack(bundle, dst)
		entries, _ := os.ReadDir(filepath.Dir(dst))
		if err != nil {
			if len(entries) != 0 {
				t.Fatalf("a failed unpack (%v) left %d entries", err, len(entries))
			}
			return
		}
		if len(entries) != 1 || entries[0].Name() != "img" {
			t.Fatalf("unpack wrote beside its target: %v", entries)
		}
		checkUnpacked(t, dst, m)
	})
}

func checkUnpacked(t *testing.T, dst string, m Manifest) {
	t.Helper()
	files, err := os.ReadDir(dst)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range files {
		name := e.Name()
		if name == ManifestFile {
			continue
		}
		if !e.Type().IsRegular() || !slices.Contains(allowed(m.Kind), name) {
			t.Fatalf("unpacked %q (%s), which a %s bundle may not hold", name, e.Type(), m.Kind)
		}
		b, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != m.Files[name] {
			t.Fatalf("%s does not match the manifest's sha256", name)
		}
	}
	if len(files) != len(m.Files)+1 {
		t.Fatalf("unpacked %d files, the manifest lists %d", len(files)-1, len(m.Files))
	}
}

func writeZstd(t *testing.T, p string, data []byte) {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(data)
	zw.Close()
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}
