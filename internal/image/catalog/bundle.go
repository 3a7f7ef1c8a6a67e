package catalog

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"banger/internal/digest"
	"banger/internal/image/imageref"
	"banger/internal/sparse"
)

// Names of the files a bundle may hold.
const (
	ManifestFile = "manifest.json"
	RootfsFile   = "rootfs.ext4"
	VmlinuzFile  = "vmlinuz"
	VmlinuxFile  = "vmlinux"
	InitrdFile   = "initrd.img"
)

// maxUnpackedBytes bounds one file unpacked from a bundle.
const maxUnpackedBytes = 64 << 30

// ErrBadBundle is wrapped by every error about a bundle's content.
var ErrBadBundle = errors.New("bad bundle")

// Manifest is a bundle's manifest.json.
type Manifest struct {
	Kind    Kind              `json:"kind"`
	Name    string            `json:"name"`
	Arch    string            `json:"arch"`
	Version string            `json:"version,omitempty"`
	Distro  string            `json:"distro,omitempty"`
	Created time.Time         `json:"created"`
	Files   map[string]string `json:"files"` // name -> sha256 of every other file
}

// allowed returns the file names a bundle of kind may hold, besides the
// manifest.
func allowed(kind Kind) []string {
	switch kind {
	case KindImage:
		return []string{RootfsFile}
	case KindKernel:
		return []string{VmlinuzFile, VmlinuxFile, InitrdFile}
	}
	return nil
}

func checkFileSet(kind Kind, names []string) error {
	ok := allowed(kind)
	if ok == nil {
		return fmt.Errorf("%w: unknown kind %q", ErrBadBundle, kind)
	}
	for _, n := range names {
		if !slices.Contains(ok, n) {
			return fmt.Errorf("%w: a %s bundle may not hold %q", ErrBadBundle, kind, n)
		}
	}
	switch kind {
	case KindImage:
		if !slices.Contains(names, RootfsFile) {
			return fmt.Errorf("%w: an image bundle needs %s", ErrBadBundle, RootfsFile)
		}
	case KindKernel:
		hasZ, hasX := slices.Contains(names, VmlinuzFile), slices.Contains(names, VmlinuxFile)
		if hasZ == hasX {
			return fmt.Errorf("%w: a kernel bundle needs exactly one of %s and %s", ErrBadBundle, VmlinuzFile, VmlinuxFile)
		}
	}
	return nil
}

// BundleSpec describes a bundle to write.
type BundleSpec struct {
	Kind        Kind
	Name        string
	Arch        string // default amd64
	Version     string // kernel version
	Distro      string
	KernelRef   string
	Description string
	// Files maps bundle file names (rootfs.ext4; vmlinuz or vmlinux and
	// optionally initrd.img) to host paths.
	Files map[string]string
	// Now stamps the manifest; default time.Now.
	Now func() time.Time
}

// WriteBundle packs spec.Files and a manifest into a zstd-compressed tar in
// outDir under its content-addressed name, and returns the catalog entry for
// it (BundleURL is just the file name: prefix it with where it is hosted, or
// leave it relative to the catalog's URL).
func WriteBundle(spec BundleSpec, outDir string) (e Entry, err error) {
	if spec.Arch == "" {
		spec.Arch = kernelArch
	}
	if spec.Kind == KindKernel && spec.Arch != kernelArch {
		return Entry{}, fmt.Errorf("kernel bundles are %s only", kernelArch)
	}
	if !imageref.ValidName(spec.Name) || !archRE.MatchString(spec.Arch) {
		return Entry{}, fmt.Errorf("bundle name %q / arch %q: use lowercase letters, digits, '.' and '-'", spec.Name, spec.Arch)
	}
	names := make([]string, 0, len(spec.Files))
	for n := range spec.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	if err := checkFileSet(spec.Kind, names); err != nil {
		return Entry{}, err
	}
	now := time.Now
	if spec.Now != nil {
		now = spec.Now
	}
	m := Manifest{Kind: spec.Kind, Name: spec.Name, Arch: spec.Arch, Version: spec.Version, Distro: spec.Distro,
		Created: now().UTC().Truncate(time.Second), Files: map[string]string{}}
	for _, n := range names {
		sum, err := digest.File(spec.Files[n])
		if err != nil {
			return Entry{}, fmt.Errorf("bundle %s: %w", n, err)
		}
		m.Files[n] = sum
	}
	mdata, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return Entry{}, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return Entry{}, fmt.Errorf("bundle: %w", err)
	}
	tmp, err := os.CreateTemp(outDir, ".bundle-"+spec.Name+"-")
	if err != nil {
		return Entry{}, fmt.Errorf("bundle: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	zw, err := zstd.NewWriter(io.MultiWriter(tmp, h))
	if err != nil {
		return Entry{}, fmt.Errorf("bundle: %w", err)
	}
	tw := tar.NewWriter(zw)
	add := func(name string, size int64, r io.Reader) error {
		hdr := &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: size, ModTime: m.Created, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := io.Copy(tw, r)
		return err
	}
	if err := add(ManifestFile, int64(len(mdata)), strings.NewReader(string(mdata))); err != nil {
		return Entry{}, fmt.Errorf("bundle: %w", err)
	}
	for _, n := range names {
		if err := addFile(add, n, spec.Files[n]); err != nil {
			return Entry{}, fmt.Errorf("bundle %s: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return Entry{}, fmt.Errorf("bundle: %w", err)
	}
	if err := zw.Close(); err != nil {
		return Entry{}, fmt.Errorf("bundle: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return Entry{}, fmt.Errorf("bundle: %w", err)
	}
	fi, err := tmp.Stat()
	if err != nil {
		return Entry{}, fmt.Errorf("bundle: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return Entry{}, fmt.Errorf("bundle: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	file := filepath.Join(outDir, BundleFileName(spec.Name, spec.Arch, sum))
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return Entry{}, fmt.Errorf("bundle: %w", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return Entry{}, fmt.Errorf("bundle: %w", err)
	}
	return Entry{Kind: spec.Kind, Name: spec.Name, Arch: spec.Arch, Version: spec.Version, Distro: spec.Distro,
		KernelRef: spec.KernelRef, Description: spec.Description, BundleURL: filepath.Base(file),
		BundleSHA256: sum, SizeBytes: fi.Size(), File: file}, nil
}

func addFile(add func(string, int64, io.Reader) error, name, p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", p)
	}
	return add(name, fi.Size(), io.LimitReader(f, fi.Size()))
}

// Unpack extracts a bundle (already verified by Fetch) into dstDir, which
// must not exist. Only regular files with the allowed names, at the top
// level, each once, are accepted, and each must match the sha256 the
// manifest lists. The files are written to a temp dir next to dstDir and
// renamed into place only when all is well; on error nothing is left.
func Unpack(bundle, dstDir string) (m Manifest, err error) {
	if _, err := os.Lstat(dstDir); err == nil {
		return Manifest{}, fmt.Errorf("unpack: %s already exists", dstDir)
	}
	f, err := os.Open(bundle)
	if err != nil {
		return Manifest{}, fmt.Errorf("unpack: %w", err)
	}
	defer f.Close()
	zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return Manifest{}, fmt.Errorf("unpack %s: %w", bundle, err)
	}
	defer zr.Close()
	parent := filepath.Dir(dstDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return Manifest{}, fmt.Errorf("unpack: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dstDir)+".unpack-")
	if err != nil {
		return Manifest{}, fmt.Errorf("unpack: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	sums := map[string]string{}
	var mdata []byte
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Manifest{}, fmt.Errorf("unpack %s: %w: %w", bundle, ErrBadBundle, err)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA {
			return Manifest{}, fmt.Errorf("unpack %s: %w: %q is not a regular file", bundle, ErrBadBundle, hdr.Name)
		}
		if name != ManifestFile && !slices.Contains(allowed(KindImage), name) && !slices.Contains(allowed(KindKernel), name) {
			return Manifest{}, fmt.Errorf("unpack %s: %w: unexpected entry %q", bundle, ErrBadBundle, hdr.Name)
		}
		if _, dup := sums[name]; dup || (name == ManifestFile && mdata != nil) {
			return Manifest{}, fmt.Errorf("unpack %s: %w: %q appears twice", bundle, ErrBadBundle, name)
		}
		if hdr.Size < 0 || hdr.Size > maxUnpackedBytes {
			return Manifest{}, fmt.Errorf("unpack %s: %w: %q is %d bytes", bundle, ErrBadBundle, name, hdr.Size)
		}
		if name == ManifestFile {
			if hdr.Size > 1<<20 {
				return Manifest{}, fmt.Errorf("unpack %s: %w: manifest too large", bundle, ErrBadBundle)
			}
			if mdata, err = io.ReadAll(tr); err != nil {
				return Manifest{}, fmt.Errorf("unpack %s: %w", bundle, err)
			}
			continue
		}
		sum, err := writeNew(filepath.Join(tmp, name), tr, hdr.Size)
		if err != nil {
			return Manifest{}, fmt.Errorf("unpack %s: %s: %w", bundle, name, err)
		}
		sums[name] = sum
	}
	if mdata == nil {
		return Manifest{}, fmt.Errorf("unpack %s: %w: no %s", bundle, ErrBadBundle, ManifestFile)
	}
	if err := json.Unmarshal(mdata, &m); err != nil {
		return Manifest{}, fmt.Errorf("unpack %s: %w: manifest: %w", bundle, ErrBadBundle, err)
	}
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	if err := checkFileSet(m.Kind, names); err != nil {
		return Manifest{}, fmt.Errorf("unpack %s: %w", bundle, err)
	}
	if len(m.Files) != len(sums) {
		return Manifest{}, fmt.Errorf("unpack %s: %w: manifest lists %d files, the bundle holds %d", bundle, ErrBadBundle, len(m.Files), len(sums))
	}
	for n, sum := range sums {
		if m.Files[n] != sum {
			return Manifest{}, fmt.Errorf("unpack %s: %w: %s does not match its manifest sha256", bundle, ErrBadBundle, n)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ManifestFile), mdata, 0o644); err != nil {
		return Manifest{}, fmt.Errorf("unpack: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return Manifest{}, fmt.Errorf("unpack: %w", err)
	}
	if err := os.Rename(tmp, dstDir); err != nil {
		return Manifest{}, fmt.Errorf("unpack: %w", err)
	}
	return m, nil
}

// writeNew creates p (which must not exist) with exactly size bytes from r
// and returns their sha256. Runs of zero blocks become holes, so a sparse
// rootfs stays sparse.
func writeNew(p string, r io.Reader, size int64) (string, error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	n, err := sparse.Write(f, io.TeeReader(io.LimitReader(r, size), h))
	if err == nil && n != size {
		err = io.ErrUnexpectedEOF
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
