// Package vmlinux turns a distribution kernel into the uncompressed ELF
// vmlinux some VMMs boot (Firecracker 1.x on x86_64, for one).
// Distributions ship a bzImage: a real-mode setup followed by a compressed
// payload (the kernel's arch/x86/boot/compressed/vmlinux.bin, i.e. the
// stripped ELF vmlinux, plus relocation data). Extract unpacks it.
package vmlinux

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"io"
	"os"

	"banger/internal/atomicfile"
)

var elfMagic = []byte{0x7f, 'E', 'L', 'F'}

// payload compressions, by the magic at the start of the payload.
var compressions = []struct {
	name      string
	magic     []byte
	supported bool
}{
	{"gzip", []byte{0x1f, 0x8b}, true},
	{"lz4", []byte{0x02, 0x21, 0x4c, 0x18}, true}, // lz4 legacy frame, Debian's choice
	{"bzip2", []byte("BZh"), true},
	{"xz", []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, false},
	{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd}, true}, // Fedora, Arch
	{"lzo", []byte{0x89, 'L', 'Z', 'O'}, false},
	{"lzma", []byte{0x5d, 0x00, 0x00}, false},
}

// Extract writes the uncompressed ELF kernel inside the bzImage at
// bzImage to dst. A file that already is an ELF is copied as is. gzip, lz4
// and bzip2 payloads are supported; xz, zstd, lzo and lzma are recognised and
// reported. dst is written through a temporary file, so it either appears
// whole or not at all.
func Extract(bzImage, dst string) error {
	b, err := os.ReadFile(bzImage)
	if err != nil {
		return fmt.Errorf("extract vmlinux from %s: %w", bzImage, err)
	}
	out, err := vmlinuxFromImage(b)
	if err != nil {
		return fmt.Errorf("extract vmlinux from %s: %w", bzImage, err)
	}
	if err := atomicfile.Write(dst, out, 0o644); err != nil {
		return fmt.Errorf("extract vmlinux from %s: %w", bzImage, err)
	}
	return nil
}

// Compression names the compression of a bzImage's payload, "elf" for
// an uncompressed ELF kernel.
func Compression(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read kernel %s: %w", path, err)
	}
	if bytes.HasPrefix(b, elfMagic) {
		return "elf", nil
	}
	p, err := bzPayload(b)
	if err != nil {
		return "", fmt.Errorf("read kernel %s: %w", path, err)
	}
	for _, c := range compressions {
		if bytes.HasPrefix(p, c.magic) {
			return c.name, nil
		}
	}
	return "", fmt.Errorf("read kernel %s: unknown payload compression (magic % x)", path, p[:min(len(p), 6)])
}

func vmlinuxFromImage(b []byte) ([]byte, error) {
	if bytes.HasPrefix(b, elfMagic) {
		return b, nil
	}
	p, err := bzPayload(b)
	if err != nil {
		return nil, err
	}
	if len(p) < 8 {
		return nil, errors.New("payload too short")
	}
	// The kernel build appends the uncompressed size (le32) to every payload.
	size := int(binary.LittleEndian.Uint32(p[len(p)-4:]))
	stream := p[:len(p)-4]
	var out []byte
	for _, c := range compressions {
		if !bytes.HasPrefix(p, c.magic) {
			continue
		}
		if !c.supported {
			return nil, fmt.Errorf("payload is %s-compressed, which banger cannot unpack; extract vmlinux with the kernel's scripts/extract-vmlinux and point the image at it", c.name)
		}
		switch c.name {
		case "gzip":
			out, err = readAllLimit(gzipReader(stream), size)
		case "bzip2":
			out, err = readAllLimit(bzip2.NewReader(bytes.NewReader(stream)), size)
		case "zstd":
			var zr *zstd.Decoder
			if zr, err = zstd.NewReader(bytes.NewReader(stream)); err == nil {
				out = make([]byte, size)
				_, err = io.ReadFull(zr, out)
				zr.Close()
			}
			if err != nil {
				out = nil
			}
		case "lz4":
			// Read exactly size bytes: the kernel appends the size after the
			// frame, which a reader going further would take for a block.
			out = make([]byte, size)
			if _, err = io.ReadFull(lz4.NewReader(bytes.NewReader(stream)), out); err != nil {
				out = nil
			}
		}
		if err != nil {
			return nil, fmt.Errorf("decompress %s payload: %w", c.name, err)
		}
		break
	}
	if out == nil {
		return nil, fmt.Errorf("unknown payload compression (magic % x)", p[:6])
	}
	if len(out) != size {
		return nil, fmt.Errorf("decompressed %d bytes, the image says %d", len(out), size)
	}
	if !bytes.HasPrefix(out, elfMagic) {
		return nil, fmt.Errorf("decompressed payload is not an ELF file (starts % x)", out[:min(len(out), 4)])
	}
	return trimELF(out), nil
}

// bzPayload returns the compressed payload of a bzImage (boot protocol
// >= 2.08, which has payload_offset and payload_length).
func bzPayload(b []byte) ([]byte, error) {
	if len(b) < 0x250 || string(b[0x202:0x206]) != "HdrS" {
		return nil, errors.New("not a bzImage (no HdrS boot header) and not an ELF vmlinux")
	}
	if v := binary.LittleEndian.Uint16(b[0x206:]); v < 0x208 {
		return nil, fmt.Errorf("boot protocol %#x has no payload fields (need >= 2.08)", v)
	}
	setup := int(b[0x1f1])
	if setup == 0 {
		setup = 4
	}
	off := (setup+1)*512 + int(binary.LittleEndian.Uint32(b[0x248:]))
	n := int(binary.LittleEndian.Uint32(b[0x24c:]))
	if off < 0 || n <= 0 || off+n > len(b) {
		return nil, fmt.Errorf("payload at %d+%d lies outside the %d-byte image", off, n, len(b))
	}
	return b[off : off+n], nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func gzipReader(b []byte) io.Reader {
	r, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return errReader{err}
	}
	r.Multistream(false)
	return r
}

func readAllLimit(r io.Reader, size int) ([]byte, error) {
	out := make([]byte, 0, size)
	buf := bytes.NewBuffer(out)
	if _, err := io.Copy(buf, io.LimitReader(r, int64(size)+1)); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// trimELF drops what follows the ELF file proper (the relocation table the
// kernel build appends), if the headers say where the file ends.
func trimELF(b []byte) []byte {
	if len(b) < 64 || b[4] != 2 || b[5] != 1 { // ELFCLASS64, little endian
		return b
	}
	le := binary.LittleEndian
	end := uint64(64)
	phoff, phentsize, phnum := le.Uint64(b[0x20:]), uint64(le.Uint16(b[0x36:])), uint64(le.Uint16(b[0x38:]))
	shoff, shentsize, shnum := le.Uint64(b[0x28:]), uint64(le.Uint16(b[0x3a:])), uint64(le.Uint16(b[0x3c:]))
	end = max(end, phoff+phentsize*phnum, shoff+shentsize*shnum)
	for k := uint64(0); k < phnum; k++ {
		o := phoff + k*phentsize
		if o+0x28 > uint64(len(b)) {
			return b
		}
		end = max(end, le.Uint64(b[o+0x08:])+le.Uint64(b[o+0x20:])) // p_offset + p_filesz
	}
	for k := uint64(0); k < shnum; k++ {
		o := shoff + k*shentsize
		if o+0x28 > uint64(len(b)) {
			return b
		}
		if le.Uint32(b[o+0x04:]) == 8 { // SHT_NOBITS takes no file space
			continue
		}
		end = max(end, le.Uint64(b[o+0x18:])+le.Uint64(b[o+0x20:])) // sh_offset + sh_size
	}
	if end < uint64(len(b)) {
		return b[:end]
	}
	return b
}
