package oci

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// FuzzApplyLayer feeds arbitrary tar streams to the layer flattener (the
// code that applies an image layer to the rootfs tree, as root). Whatever
// the stream, it does not panic, and nothing outside the tree changes: a
// sentinel file next to it keeps its content and its link count (no hard
// link to it), and no other entry appears beside the tree.
func FuzzApplyLayer(f *testing.F) {
	f.Add(seedLayer(f))
	f.Fuzz(func(t *testing.T, layer []byte) {
		base := t.TempDir()
		tree, outside := filepath.Join(base, "rootfs"), filepath.Join(base, "outside")
		for _, d := range []string{tree, outside} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		sentinel := filepath.Join(outside, "sentinel")
		if err := os.WriteFile(sentinel, []byte("untouched"), 0o644); err != nil {
			t.Fatal(err)
		}
		fl, err := newFlattener(tree, Limits{MaxFileBytes: 1 << 20, MaxTotalBytes: 4 << 20, MaxEntries: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if err := fl.applyLayer(bytes.NewReader(layer)); err == nil {
			_ = fl.finish()
		}
		fl.Close()
		checkOutside(t, base, sentinel)
	})
}

func checkOutside(t *testing.T, base, sentinel string) {
	t.Helper()
	entries, err := os.ReadDir(base)
	if err != nil || len(entries) != 2 {
		t.Fatalf("the tree's parent holds %d entries (%v), want rootfs and outside only", len(entries), err)
	}
	out, err := os.ReadDir(filepath.Dir(sentinel))
	if err != nil || len(out) != 1 {
		t.Fatalf("a layer wrote beside the tree: %v (%v)", out, err)
	}
	b, err := os.ReadFile(sentinel)
	if err != nil || string(b) != "untouched" {
		t.Fatalf("a layer changed a file outside the tree: %q, %v", b, err)
	}
	fi, err := os.Lstat(sentinel)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Nlink != 1 {
		t.Fatalf("a layer hard-linked a file outside the tree (%d links)", st.Nlink)
	}
}

// seedLayer is a small layer with a file, a directory, a symlink and a
// hard link.
func seedLayer(tb testing.TB) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "etc/hostname", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3},
		{Name: "etc/link", Typeflag: tar.TypeSymlink, Linkname: "/etc/hostname"},
		{Name: "etc/hard", Typeflag: tar.TypeLink, Linkname: "etc/hostname"},
	} {
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("vm\n"))
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}
