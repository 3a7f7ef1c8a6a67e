package oci

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"regexp"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"banger/internal/atomicfile"
	"banger/internal/digest"
)

var hexRE = regexp.MustCompile(`^[a-f0-9]{64}$`)

// blobPath returns <cache>/sha256/<hex> for a sha256 digest.
func blobPath(cacheDir string, h v1.Hash) (string, error) {
	if h.Algorithm != "sha256" || !hexRE.MatchString(h.Hex) {
		return "", fmt.Errorf("%w: unsupported layer digest %q", ErrUnsafeLayer, h.String())
	}
	return filepath.Join(cacheDir, "sha256", h.Hex), nil
}

// cachedLayer returns the path of l's compressed blob in the cache,
// downloading it when missing. A cached blob is re-hashed before reuse and
// replaced when it does not match its name; a download is written to a temp
// file, checked against the digest and only then renamed into place.
func cachedLayer(ctx context.Context, cacheDir string, l v1.Layer, maxBytes int64) (string, error) {
	d, err := l.Digest()
	if err != nil {
		return "", fmt.Errorf("layer digest: %w", err)
	}
	p, err := blobPath(cacheDir, d)
	if err != nil {
		return "", err
	}
	if ok, err := digest.Reuse(p, d.Hex); err != nil || ok {
		return p, err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return "", fmt.Errorf("layer cache: %w", err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return "", fmt.Errorf("fetching layer %s: %w", d, err)
	}
	defer rc.Close()
	err = atomicfile.WriteChecked(p, io.LimitReader(ctxReader{ctx, rc}, maxBytes+1), func(n int64, sum string) error {
		if n > maxBytes {
			return fmt.Errorf("%w: larger than %d bytes", ErrUnsafeLayer, maxBytes)
		}
		if sum != d.Hex {
			return fmt.Errorf("downloaded content has sha256 %s", sum)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("fetching layer %s: %w", d, err)
	}
	return p, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// budget fails reads once more than n bytes were read through it in total;
// it bounds decompression across all layers.
type budget struct {
	r io.Reader
	n *int64
}

var errBudget = fmt.Errorf("%w: decompressed layers exceed the size limit", ErrUnsafeLayer)

func (b budget) Read(p []byte) (int, error) {
	if *b.n <= 0 {
		return 0, errBudget
	}
	if int64(len(p)) > *b.n {
		p = p[:*b.n]
	}
	n, err := b.r.Read(p)
	*b.n -= int64(n)
	return n, err
}

// openLayer opens a cached blob and returns its uncompressed stream
// (gzip, zstd or plain tar, told apart by magic bytes).
func openLayer(blob string) (io.Reader, func(), error) {
	f, err := os.Open(blob)
	if err != nil {
		return nil, nil, err
	}
	br := bufio.NewReaderSize(f, 1<<16)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("gzip layer: %w", err)
		}
		return zr, func() { zr.Close(); f.Close() }, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("zstd layer: %w", err)
		}
		return zr, func() { zr.Close(); f.Close() }, nil
	}
	return br, func() { f.Close() }, nil
}

// hashingReader hashes what is read through it.
type hashingReader struct {
	r io.Reader
	h hash.Hash
}

func (h hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	return n, err
}

// drain reads r to its end (the tar padding after the end-of-archive marker)
// so the uncompressed digest covers the whole stream.
func drain(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
