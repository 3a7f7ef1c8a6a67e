package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"

	"banger/internal/atomicfile"
	"banger/internal/digest"
	"banger/internal/inflight"
)

// BundleFileName is the content-addressed name of a bundle:
// <name>-<arch>-<first 12 hex digits of its sha256>.tar.zst.
func BundleFileName(name, arch, sha256Hex string) string {
	return fmt.Sprintf("%s-%s-%s.tar.zst", name, arch, sha256Hex[:12])
}

// ProgressFunc is told how many bytes of a download arrived; total is -1
// when unknown.
type ProgressFunc func(done, total int64)

// Fetcher downloads bundles into a cache. Concurrent fetches of the same
// bundle share one download. The zero value is ready to use.
type Fetcher struct {
	// Client does the downloads; nil means http.DefaultClient (requests
	// carry the caller's context, so cancellation still applies).
	Client *http.Client

	downloads inflight.Group[string, bytesDone]
	joined    func() // test hook: a caller joined a download under way
}

// bytesDone is the progress of a download.
type bytesDone struct{ done, total int64 }

// Fetch returns the path of e's bundle in cacheDir, downloading it when it
// is not there. Whatever is returned has been checked against
// e.BundleSHA256 (a cached file is re-hashed before reuse). A download that
// is short, too long or does not match is removed and reported. The
// download outlives any one caller: it is cancelled only when every caller
// waiting for it has gone.
func (f *Fetcher) Fetch(ctx context.Context, e Entry, cacheDir string, progress ProgressFunc) (string, error) {
	if err := e.validate(); err != nil {
		return "", err
	}
	if progress == nil {
		progress = func(int64, int64) {}
	}
	dst := filepath.Join(cacheDir, BundleFileName(e.Name, e.Arch, e.BundleSHA256))
	return f.downloads.Do(ctx, inflight.Op[string, bytesDone]{
		Key:   dst + "\x00" + e.BundleSHA256,
		Label: "download",
		Run: func(ctx context.Context, send func(bytesDone)) (string, error) {
			return f.fetch(ctx, e, dst, func(done, total int64) { send(bytesDone{done, total}) })
		},
		Joined: func(string) {
			if f.joined != nil {
				f.joined()
			}
		},
	}, func(b bytesDone) { progress(b.done, b.total) })
}

func (f *Fetcher) fetch(ctx context.Context, e Entry, dst string, progress ProgressFunc) (string, error) {
	if ok, err := digest.Reuse(dst, e.BundleSHA256); err != nil || ok {
		return dst, err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", fmt.Errorf("bundle cache: %w", err)
	}
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.BundleURL, nil)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", e.Name, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("download %s: %w", e.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("download %s from %s: HTTP %s", e.Name, e.BundleURL, resp.Status)
	}
	if resp.ContentLength > e.SizeBytes {
		return "", fmt.Errorf("download %s: the server announces %d bytes, larger than the %d bytes the catalog lists", e.Name, resp.ContentLength, e.SizeBytes)
	}
	// The catalog's size bounds the read: one byte more tells an over-long
	// download from an exact one.
	body := io.LimitReader(resp.Body, e.SizeBytes+1)
	err = atomicfile.WriteChecked(dst, &progressReader{r: body, total: e.SizeBytes, fn: progress}, func(n int64, sum string) error {
		switch {
		case n < e.SizeBytes:
			return fmt.Errorf("truncated: got %d of %d bytes", n, e.SizeBytes)
		case n > e.SizeBytes:
			return fmt.Errorf("larger than the %d bytes the catalog lists", e.SizeBytes)
		case sum != e.BundleSHA256:
			return fmt.Errorf("sha256 mismatch: got %s, the catalog says %s", sum, e.BundleSHA256)
		}
		return nil
	})
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "", fmt.Errorf("download %s: truncated: %w", e.Name, err)
	}
	if err != nil {
		return "", fmt.Errorf("download %s: %w", e.Name, err)
	}
	return dst, nil
}

type progressReader struct {
	r     io.Reader
	done  int64
	total int64
	fn    ProgressFunc
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.done += int64(n)
		p.fn(p.done, p.total)
	}
	return n, err
}
