package catalog

import (
	"archive/tar"
	"bytes"
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
	"time"

	"github.com/klauspost/compress/zstd"

	"banger/internal/digest"
	"banger/internal/image/imageref"
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
	spec, names, err := checkSpec(spec)
	if err != nil {
		return Entry{}, err
	}
	m, mdata, err := newManifest(spec, names)
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
	if err := writeTar(io.MultiWriter(tmp, h), m, mdata, names, spec.Files); err != nil {
		return Entry{}, err
	}
	size, err := closeSynced(tmp)
	if err != nil {
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
		BundleSHA256: sum, SizeBytes: size, File: file}, nil
}

// checkSpec fills in spec's defaults, checks it and returns its file
// names, sorted.
func checkSpec(spec BundleSpec) (BundleSpec, []string, error) {
	if spec.Arch == "" {
		spec.Arch = kernelArch
	}
	if spec.Kind == KindKernel && spec.Arch != kernelArch {
		return spec, nil, fmt.Errorf("kernel bundles are %s only", kernelArch)
	}
	if !imageref.ValidName(spec.Name) || !archRE.MatchString(spec.Arch) {
		return spec, nil, fmt.Errorf("bundle name %q / arch %q: use lowercase letters, digits, '.' and '-'", spec.Name, spec.Arch)
	}
	names := make([]string, 0, len(spec.Files))
	for n := range spec.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	if err := checkFileSet(spec.Kind, names); err != nil {
		return spec, nil, err
	}
	return spec, names, nil
}

// newManifest hashes the files of spec and returns the manifest, also as
// JSON.
func newManifest(spec BundleSpec, names []string) (Manifest, []byte, error) {
	now := time.Now
	if spec.Now != nil {
		now = spec.Now
	}
	m := Manifest{Kind: spec.Kind, Name: spec.Name, Arch: spec.Arch, Version: spec.Version, Distro: spec.Distro,
		Created: now().UTC().Truncate(time.Second), Files: map[string]string{}}
	for _, n := range names {
		sum, err := digest.File(spec.Files[n])
		if err != nil {
			return Manifest{}, nil, fmt.Errorf("bundle %s: %w", n, err)
		}
		m.Files[n] = sum
	}
	mdata, err := json.MarshalIndent(m, "", "  ")
	return m, mdata, err
}

// writeTar writes the zstd-compressed tar of the manifest and the files to
// w.
func writeTar(w io.Writer, m Manifest, mdata []byte, names []string, files map[string]string) error {
	zw, err := zstd.NewWriter(w)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
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
	if err := add(ManifestFile, int64(len(mdata)), bytes.NewReader(mdata)); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	for _, n := range names {
		if err := addFile(add, n, files[n]); err != nil {
			return fmt.Errorf("bundle %s: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return nil
}

// closeSynced syncs and closes f and returns its size.
func closeSynced(f *os.File) (int64, error) {
	if err := f.Sync(); err != nil {
		return 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), f.Close()
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
