package oci

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Output file names inside Result's directory.
const (
	RootfsFile   = "rootfs.ext4"
	ManifestFile = "manifest.json"
)

const (
	mib         = 1 << 20
	minRootfs   = 1 << 30
	blockSize   = 4096
	growPercent = 150
)

// Runner runs a command given as argv and returns its combined output.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

func execRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// Options configure Import.
type Options struct {
	// WorkDir is scratch space on the filesystem the image will be
	// installed on; it is created if missing. The rootfs tree is built in
	// a temp dir under it and removed; the outputs land in WorkDir/out.
	WorkDir string
	// CacheDir holds compressed layer blobs as <CacheDir>/sha256/<hex>.
	CacheDir string
	// AgentBinary is the host path of the static banger-agent.
	AgentBinary string
	// SizeBytes overrides the ext4 size; 0 means content × 1.5, at least 1 GiB.
	SizeBytes int64
	// Limits bound file and image sizes; zero fields take DefaultLimits.
	Limits Limits
	// PlainHTTP permits plain-HTTP registry requests, to loopback
	// registries only (tests). Any other plain-HTTP request is refused.
	PlainHTTP bool
	// Transport for registry requests; default remote.DefaultTransport.
	Transport http.RoundTripper
	// Run runs mkfs.ext4; default exec.
	Run Runner
	// Progress, when set, is told about each step ("resolve", "layer",
	// "inject", "mkfs") with done/total counts (layers for "layer").
	Progress func(step string, done, total int64)
	// Now stamps the manifest; default time.Now.
	Now func() time.Time
}

// Result describes an imported image.
type Result struct {
	Rootfs    string // <WorkDir>/out/rootfs.ext4; the caller renames the out dir into place
	Manifest  string // <WorkDir>/out/manifest.json
	SizeBytes int64  // apparent size of Rootfs
	Digest    string // manifest digest of the imported (linux/amd64) image
	// Init is "" when the image boots systemd itself (its /sbin/init), or
	// AgentInit: then the kernel command line needs init=<Init>.
	Init  string
	Notes []string // entries skipped or neutralised while flattening
}

// Manifest is the content of manifest.json next to the rootfs.
type Manifest struct {
	Source       string    `json:"source"`
	Digest       string    `json:"digest"`
	Init         string    `json:"init,omitempty"`
	Created      time.Time `json:"created"`
	RootfsBytes  int64     `json:"rootfs_bytes"`
	ContentBytes int64     `json:"content_bytes"`
	Notes        []string  `json:"notes,omitempty"`
}

func (o Options) validate() error {
	for _, d := range []struct{ field, path string }{
		{"WorkDir", o.WorkDir}, {"CacheDir", o.CacheDir}, {"AgentBinary", o.AgentBinary},
	} {
		if d.path == "" || !filepath.IsAbs(d.path) || filepath.Clean(d.path) == "/" {
			return fmt.Errorf("oci import: %s must be an absolute path other than /, got %q", d.field, d.path)
		}
	}
	fi, err := os.Stat(o.AgentBinary)
	if err != nil {
		return fmt.Errorf("oci import: agent binary: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("oci import: agent binary %s is not a regular file", o.AgentBinary)
	}
	if o.SizeBytes < 0 {
		return fmt.Errorf("oci import: negative size %d", o.SizeBytes)
	}
	return nil
}

// Import pulls src, flattens its layers, makes the result bootable by banger
// and packs it into an ext4 file in opts.WorkDir/out. On failure nothing is
// left in opts.WorkDir but what was there before (and the layer cache keeps
// verified blobs).
func Import(ctx context.Context, src Source, opts Options) (res Result, err error) {
	if err := opts.validate(); err != nil {
		return Result{}, err
	}
	progress := opts.Progress
	if progress == nil {
		progress = func(string, int64, int64) {}
	}
	out, scratch, err := workDirs(opts.WorkDir)
	if err != nil {
		return Result{}, fmt.Errorf("oci import: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(out)
		}
	}()
	defer os.RemoveAll(scratch)
	tree := filepath.Join(scratch, "rootfs")

	progress("resolve", 0, 1)
	img, err := resolve(ctx, src, opts)
	if err != nil {
		return Result{}, fmt.Errorf("oci import %s: %w", src, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return Result{}, fmt.Errorf("oci import %s: image digest: %w", src, err)
	}
	progress("resolve", 1, 1)

	notes, err := flatten(ctx, img, tree, opts.CacheDir, opts.Limits.withDefaults(), progress)
	if err != nil {
		return Result{}, fmt.Errorf("oci import %s: %w", src, err)
	}
	progress("inject", 0, 1)
	init, injectNotes, err := inject(tree, opts.AgentBinary)
	if err != nil {
		return Result{}, fmt.Errorf("oci import %s: %w", src, err)
	}
	notes = append(notes, injectNotes...)
	progress("inject", 1, 1)

	progress("mkfs", 0, 1)
	rootfs := filepath.Join(out, RootfsFile)
	size, content, err := pack(ctx, opts, tree, rootfs)
	if err != nil {
		return Result{}, fmt.Errorf("oci import %s: %w", src, err)
	}
	progress("mkfs", 1, 1)
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	m := Manifest{Source: src.String(), Digest: digest.String(), Init: init, Created: now().UTC(),
		RootfsBytes: size, ContentBytes: content, Notes: notes}
	mpath := filepath.Join(out, ManifestFile)
	if err := writeJSON(mpath, m); err != nil {
		return Result{}, fmt.Errorf("oci import %s: %w", src, err)
	}
	return Result{Rootfs: rootfs, Manifest: mpath, SizeBytes: size, Digest: digest.String(), Init: init, Notes: notes}, nil
}

// workDirs makes workDir, the output dir workDir/out (which must not exist)
// and a scratch dir holding an empty rootfs/ for the tree.
func workDirs(workDir string) (out, scratch string, err error) {
	if err := os.MkdirAll(workDir, 0o700); err != nil {
		return "", "", err
	}
	out = filepath.Join(workDir, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		return "", "", fmt.Errorf("output dir: %w", err)
	}
	scratch, err = os.MkdirTemp(workDir, "tree-")
	if err == nil {
		err = os.Mkdir(filepath.Join(scratch, "rootfs"), 0o755)
	}
	if err != nil {
		os.RemoveAll(out)
		if scratch != "" {
			os.RemoveAll(scratch)
		}
		return "", "", err
	}
	return out, scratch, nil
}

// pack makes the ext4 file rootfs from tree: opts.SizeBytes big, or the
// content plus room to grow. It returns the size and the content's bytes.
func pack(ctx context.Context, opts Options, tree, rootfs string) (size, content int64, err error) {
	content, inodes, err := usage(tree)
	if err != nil {
		return 0, 0, err
	}
	size = opts.SizeBytes
	if size == 0 {
		size = max(content/100*growPercent, minRootfs)
	}
	size = (size + mib - 1) / mib * mib
	if size < content {
		return 0, 0, fmt.Errorf("size %d is smaller than the image content (%d bytes)", size, content)
	}
	if err := mkfs(ctx, opts.Run, tree, rootfs, size, inodes); err != nil {
		return 0, 0, err
	}
	return size, content, nil
}

// flatten applies img's layers in order to tree.
func flatten(ctx context.Context, img v1.Image, tree, cacheDir string, lim Limits, progress func(string, int64, int64)) ([]string, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, fmt.Errorf("listing layers: %w", err)
	}
	f, err := newFlattener(tree, lim)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	left := f.lim.MaxTotalBytes + 1<<30 // file contents plus room for headers
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		progress("layer", int64(i), int64(len(layers)))
		if mt, err := l.MediaType(); err == nil && !layerMediaTypeOK(mt) {
			return nil, fmt.Errorf("layer %d has unsupported media type %s", i, mt)
		}
		blob, err := cachedLayer(ctx, cacheDir, l, f.lim.MaxTotalBytes)
		if err != nil {
			return nil, err
		}
		if err := applyBlob(ctx, f, l, blob, &left); err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
	}
	progress("layer", int64(len(layers)), int64(len(layers)))
	if err := f.finish(); err != nil {
		return nil, err
	}
	return f.notes, nil
}

// applyBlob extracts one cached layer blob and checks the uncompressed
// stream against the layer's DiffID from the image config.
func applyBlob(ctx context.Context, f *flattener, l v1.Layer, blob string, left *int64) error {
	r, closeFn, err := openLayer(blob)
	if err != nil {
		return err
	}
	defer closeFn()
	h := sha256.New()
	hr := hashingReader{r: budget{r: ctxReader{ctx, r}, n: left}, h: h}
	if err := f.applyLayer(hr); err != nil {
		return err
	}
	if err := drain(hr); err != nil {
		return fmt.Errorf("reading layer: %w", err)
	}
	want, err := l.DiffID()
	if err != nil || want.Algorithm != "sha256" {
		return nil // nothing to compare with
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want.Hex {
		return fmt.Errorf("uncompressed layer has sha256 %s, the image config says %s", got, want)
	}
	return nil
}

// usage returns the bytes the tree needs on ext4 (regular files rounded up
// to blocks, one block per directory and symlink) and its inode count.
func usage(tree string) (bytes int64, inodes int64, err error) {
	seen := map[[2]uint64]bool{}
	err = filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if key, ok := inodeKey(fi); ok && fi.Mode().IsRegular() {
			if seen[key] {
				return nil
			}
			seen[key] = true
		}
		inodes++
		if fi.Mode().IsRegular() {
			bytes += (fi.Size() + blockSize - 1) / blockSize * blockSize
		} else {
			bytes += blockSize
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("measuring rootfs tree: %w", err)
	}
	return bytes, inodes, nil
}

// mkfs packs tree into a new ext4 file at dst of size bytes: created sparse
// at the exact size, filled by mkfs.ext4 -d, renamed into place when done.
func mkfs(ctx context.Context, run Runner, tree, dst string, size, inodes int64) error {
	if run == nil {
		run = execRunner
	}
	tmp := dst + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("creating image file: %w", err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("sizing image file: %w", err)
	}
	args := []string{"-q", "-F", "-L", "banger-root", "-m", "0"}
	// Leave twice the tree's inodes free for packages installed later, if
	// that is more than mkfs's default of one per 16 KiB.
	if want := inodes*2 + 8192; want > size/16384 {
		args = append(args, "-N", strconv.FormatInt(want, 10))
	}
	args = append(args, "-d", tree, tmp, strconv.FormatInt(size/mib, 10)+"M")
	if _, err := run(ctx, "mkfs.ext4", args...); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("making ext4: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("renaming image: %w", err)
	}
	return nil
}

func writeJSON(p string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return errors.Join(err, os.Remove(tmp))
	}
	return nil
}

// inodeKey identifies a file's inode, to count hard links once.
func inodeKey(fi fs.FileInfo) ([2]uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return [2]uint64{}, false
	}
	return [2]uint64{uint64(st.Dev), st.Ino}, true
}
