package vmlinux

import (
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/binary"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Kernels this machine may have: the default image's kernel in the state
// of a root install, of the end-to-end tests' cache (present once `make
// test` has run), and of a development setup.
var debianKernels = []string{
	"/var/lib/banger/kernels/debian-bookworm/vmlinuz",
	"/var/cache/banger-e2e/state/kernels/debian-bookworm/vmlinuz",
	"/var/lib/banger-dev/kernels/debian-bookworm/vmlinuz",
}

func TestExtractVmlinuxDebianKernel(t *testing.T) {
	found := false
	for _, k := range debianKernels {
		if _, err := os.Stat(k); err != nil {
			continue
		}
		found = true
		t.Run(strings.ReplaceAll(k, "/", "_"), func(t *testing.T) {
			comp, err := Compression(k)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s payload compression: %s", k, comp)
			dst := filepath.Join(t.TempDir(), "vmlinux")
			if err := Extract(k, dst); err != nil {
				t.Fatalf("Extract: %v", err)
			}
			f, err := elf.Open(dst)
			if err != nil {
				t.Fatalf("result is not an ELF file: %v", err)
			}
			defer f.Close()
			if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
				t.Fatalf("ELF class %v machine %v type %v, want 64-bit x86-64 executable", f.Class, f.Machine, f.Type)
			}
			loads := 0
			for _, p := range f.Progs {
				if p.Type == elf.PT_LOAD {
					loads++
					if p.Off+p.Filesz > uint64(fileSize(t, dst)) {
						t.Fatalf("PT_LOAD segment %+v runs past the file", p.ProgHeader)
					}
				}
			}
			if loads == 0 {
				t.Fatal("no PT_LOAD segments")
			}
			// Linux's entry point for 64-bit boot lies in the first segment.
			if f.Entry == 0 {
				t.Fatal("entry point is 0")
			}
		})
	}
	if !found {
		t.Skip("no Debian kernel on this machine (looked at " + strings.Join(debianKernels, ", ") + ")")
	}
}

func fileSize(t *testing.T, p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// fakeBzImage wraps payload in a minimal bzImage header (boot protocol 2.15).
func fakeBzImage(payload []byte) []byte {
	const setupSects = 1
	b := make([]byte, (setupSects+1)*512)
	b[0x1f1] = setupSects
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], 0x20f)
	binary.LittleEndian.PutUint32(b[0x248:], 0)
	binary.LittleEndian.PutUint32(b[0x24c:], uint32(len(payload)))
	return append(b, payload...)
}

// tinyELF is an ELF64 header with no segments followed by relocation junk
// that trimELF must drop.
func tinyELF() (elfPart, withJunk []byte) {
	h := make([]byte, 64)
	copy(h, elfMagic)
	h[4], h[5], h[6] = 2, 1, 1
	binary.LittleEndian.PutUint16(h[0x10:], 2)  // ET_EXEC
	binary.LittleEndian.PutUint16(h[0x12:], 62) // EM_X86_64
	binary.LittleEndian.PutUint16(h[0x34:], 64) // ehsize
	return h, append(append([]byte{}, h...), bytes.Repeat([]byte{0xaa}, 100)...)
}

func withSize(b []byte, size int) []byte {
	return binary.LittleEndian.AppendUint32(b, uint32(size))
}

func TestExtractVmlinuxFormats(t *testing.T) {
	want, raw := tinyELF()
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(raw)
	w.Close()

	// lz4 legacy frame (lz4 -l), what the kernel build makes.
	var lzBuf bytes.Buffer
	lw := lz4.NewWriter(&lzBuf)
	if err := lw.Apply(lz4.LegacyOption(true)); err != nil {
		t.Fatal(err)
	}
	lw.Write(raw)
	lw.Close()
	lz := lzBuf.Bytes()
	if binary.LittleEndian.Uint32(lz) != 0x184c2102 {
		t.Fatalf("not a legacy frame: % x", lz[:4])
	}

	zw, _ := zstd.NewWriter(nil)
	zs := zw.EncodeAll(raw, nil)
	zw.Close()

	tests := []struct {
		name    string
		image   []byte
		want    []byte
		wantErr string
	}{
		{"gzip", fakeBzImage(withSize(gz.Bytes(), len(raw))), want, ""},
		{"zstd", fakeBzImage(withSize(zs, len(raw))), want, ""},
		{"lz4", fakeBzImage(withSize(lz, len(raw))), want, ""},
		{"already elf", raw, raw, ""},
		{"xz reported", fakeBzImage(withSize([]byte{0xfd, '7', 'z', 'X', 'Z', 0, 1, 2}, 10)), nil, "xz-compressed"},
		{"not elf inside", fakeBzImage(withSize(gzipOf([]byte("hello world")), 11)), nil, "not an ELF"},
		{"size mismatch", fakeBzImage(withSize(gz.Bytes(), len(raw)+1)), nil, "image says"},
		{"garbage", []byte("definitely not a kernel, but long enough? no"), nil, "not a bzImage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "vmlinuz"), filepath.Join(dir, "vmlinux")
			if err := os.WriteFile(src, tt.image, 0o644); err != nil {
				t.Fatal(err)
			}
			err := Extract(src, dst)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if ents, _ := os.ReadDir(dir); len(ents) != 1 {
					t.Fatalf("failed extraction left files behind: %v", ents)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(dst)
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(tt.want))
			}
		})
	}
}

func gzipOf(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}
