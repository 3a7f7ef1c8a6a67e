// Package imagetest provides image, kernel and catalog fixtures for tests
// of the image service and of the daemon's image routes.
package imagetest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"banger/internal/image/catalog"
)

// WriteFile writes data to p, making its directory, and returns p.
func WriteFile(t testing.TB, p string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Ext4 is a 4 MiB file with the ext superblock magic, some data and a long
// run of zeros (a sparse copy of it takes far less than 4 MiB).
func Ext4() []byte {
	b := make([]byte, 4<<20)
	b[1080], b[1081] = 0x53, 0xEF
	copy(b[8192:], bytes.Repeat([]byte("data"), 1024))
	return b
}

// BzImage has the "HdrS" boot header and the given version string.
func BzImage(version string) []byte {
	b := make([]byte, 8192)
	copy(b[0x202:], "HdrS")
	off := 0x1000 - 0x200
	b[0x20E], b[0x20F] = byte(off), byte(off>>8)
	copy(b[0x1000:], version+" (builder@host) #1 SMP\x00")
	return b
}

// Vmlinux is an uncompressed kernel: the ELF magic and some bytes.
func Vmlinux() []byte { return append([]byte("\x7fELF"), bytes.Repeat([]byte{1}, 4096)...) }

// Catalog names what Publish puts in a catalog.
type Catalog struct {
	Image         string // image bundle name, of a Debian image
	Kernel        string // kernel bundle name: the image's kernel_ref
	KernelVersion string
	Initrd        bool // the kernel bundle holds an initrd
}

// Publish writes into dir an image bundle of Ext4, a kernel bundle of
// Vmlinux (with an initrd when c.Initrd) and a catalog.json listing both,
// and returns their entries.
func Publish(t testing.TB, dir string, c Catalog) (img, kern catalog.Entry) {
	t.Helper()
	src := t.TempDir()
	var err error
	img, err = catalog.WriteBundle(catalog.BundleSpec{Kind: catalog.KindImage, Name: c.Image, Distro: "debian", KernelRef: c.Kernel,
		Files: map[string]string{catalog.RootfsFile: WriteFile(t, filepath.Join(src, "rootfs.ext4"), Ext4())}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{catalog.VmlinuxFile: WriteFile(t, filepath.Join(src, "vmlinux"), Vmlinux())}
	if c.Initrd {
		files[catalog.InitrdFile] = WriteFile(t, filepath.Join(src, "initrd.img"), []byte("initrd"))
	}
	kern, err = catalog.WriteBundle(catalog.BundleSpec{Kind: catalog.KindKernel, Name: c.Kernel, Version: c.KernelVersion, Files: files}, dir)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(catalog.Catalog{Version: 1, Images: []catalog.Image{img.Image()}, Kernels: []catalog.Kernel{kern.Kernel()}})
	if err != nil {
		t.Fatal(err)
	}
	WriteFile(t, filepath.Join(dir, "catalog.json"), data)
	return img, kern
}
