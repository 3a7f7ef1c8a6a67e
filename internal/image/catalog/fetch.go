package catalog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"banger/internal/atomicfile"
	"banger/internal/digest"
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

	mu       sync.Mutex
	inflight map[string]*call
	joined   func() // test hook: a caller joined a download under way
}

type call struct {
	done    chan struct{}
	path    string
	err     error
	waiters int
	cancel  context.CancelFunc
	subs    []ProgressFunc
}

func (c *call) progress(mu *sync.Mutex) ProgressFunc {
	return func(done, total int64) {
		mu.Lock()
		subs := append([]ProgressFunc(nil), c.subs...)
		mu.Unlock()
		for _, s := range subs {
			s(done, total)
		}
	}
}

// Fetch returns the path of e's bundle in cacheDir, downloading it when it
// is not there. Whatever is returned has been checked against
// e.BundleSHA256 (a cached file is re-hashed before reuse). A download that
// is short, too long or does not match is removed and reported.
func (f *Fetcher) Fetch(ctx context.Context, e Entry, cacheDir string, progress ProgressFunc) (string, error) {
	if err := e.validate(); err != nil {
		return "", err
	}
	if progress == nil {
		progress = func(int64, int64) {}
	}
	dst := filepath.Join(cacheDir, BundleFileName(e.Name, e.Arch, e.BundleSHA256))
	key := dst + "\x00" + e.BundleSHA256

	f.mu.Lock()
	if f.inflight == nil {
		f.inflight = map[string]*call{}
	}
	c, ok := f.inflight[key]
	if ok {
		c.waiters++
		c.subs = append(c.subs, progress)
		if f.joined != nil {
			f.joined()
		}
	} else {
		// The download outlives any one caller: it is cancelled only
		// when every caller waiting for it has gone.
		dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		c = &call{done: make(chan struct{}), waiters: 1, cancel: cancel, subs: []ProgressFunc{progress}}
		f.inflight[key] = c
		go func() {
			c.path, c.err = f.fetch(dctx, e, dst, c.progress(&f.mu))
			cancel()
			f.mu.Lock()
			if f.inflight[key] == c {
				delete(f.inflight, key)
			}
			f.mu.Unlock()
			close(c.done)
		}()
	}
	f.mu.Unlock()

	select {
	case <-c.done:
		return c.path, c.err
	case <-ctx.Done():
		f.mu.Lock()
		c.waiters--
		if c.waiters == 0 {
			c.cancel()
			if f.inflight[key] == c {
				delete(f.inflight, key) // later callers start afresh
			}
		}
		f.mu.Unlock()
		return "", ctx.Err()
	}
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
	total := e.SizeBytes
	if total == 0 {
		total = resp.ContentLength
	}
	body := io.Reader(resp.Body)
	if e.SizeBytes > 0 {
		body = io.LimitReader(body, e.SizeBytes+1)
	}
	err = atomicfile.WriteChecked(dst, &progressReader{r: body, total: total, fn: progress}, func(n int64, sum string) error {
		switch {
		case e.SizeBytes > 0 && n < e.SizeBytes:
			return fmt.Errorf("truncated: got %d of %d bytes", n, total)
		case e.SizeBytes > 0 && n > e.SizeBytes:
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
