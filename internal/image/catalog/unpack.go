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
	"strings"

	"github.com/klauspost/compress/zstd"

	"banger/internal/sparse"
)

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
	mdata, sums, err := extract(tar.NewReader(zr), tmp)
	if err != nil {
		return Manifest{}, fmt.Errorf("unpack %s: %w", bundle, err)
	}
	if m, err = checkManifest(mdata, sums); err != nil {
		return Manifest{}, fmt.Errorf("unpack %s: %w", bundle, err)
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

// extract writes the files of the tar into dir and returns the manifest's
// bytes and the sha256 of every other file.
func extract(tr *tar.Reader, dir string) (mdata []byte, sums map[string]string, err error) {
	sums = map[string]string{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrBadBundle, err)
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		if err := checkEntry(hdr, name, sums, mdata != nil); err != nil {
			return nil, nil, err
		}
		if name == ManifestFile {
			if hdr.Size > 1<<20 {
				return nil, nil, fmt.Errorf("%w: manifest too large", ErrBadBundle)
			}
			if mdata, err = io.ReadAll(tr); err != nil {
				return nil, nil, err
			}
			continue
		}
		sum, err := writeNew(filepath.Join(dir, name), tr, hdr.Size)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		sums[name] = sum
	}
	if mdata == nil {
		return nil, nil, fmt.Errorf("%w: no %s", ErrBadBundle, ManifestFile)
	}
	return mdata, sums, nil
}

// checkEntry accepts a tar entry that is a regular file with an allowed
// name, not seen before, of a sane size.
func checkEntry(hdr *tar.Header, name string, sums map[string]string, haveManifest bool) error {
	if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA {
		return fmt.Errorf("%w: %q is not a regular file", ErrBadBundle, hdr.Name)
	}
	if name != ManifestFile && !slices.Contains(allowed(KindImage), name) && !slices.Contains(allowed(KindKernel), name) {
		return fmt.Errorf("%w: unexpected entry %q", ErrBadBundle, hdr.Name)
	}
	if _, dup := sums[name]; dup || (name == ManifestFile && haveManifest) {
		return fmt.Errorf("%w: %q appears twice", ErrBadBundle, name)
	}
	if hdr.Size < 0 || hdr.Size > maxUnpackedBytes {
		return fmt.Errorf("%w: %q is %d bytes", ErrBadBundle, name, hdr.Size)
	}
	return nil
}

// checkManifest parses the manifest and checks that it lists exactly the
// files unpacked, with their sha256.
func checkManifest(mdata []byte, sums map[string]string) (Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(mdata, &m); err != nil {
		return Manifest{}, fmt.Errorf("%w: manifest: %w", ErrBadBundle, err)
	}
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}
	if err := checkFileSet(m.Kind, names); err != nil {
		return Manifest{}, err
	}
	if len(m.Files) != len(sums) {
		return Manifest{}, fmt.Errorf("%w: manifest lists %d files, the bundle holds %d", ErrBadBundle, len(m.Files), len(sums))
	}
	for n, sum := range sums {
		if m.Files[n] != sum {
			return Manifest{}, fmt.Errorf("%w: %s does not match its manifest sha256", ErrBadBundle, n)
		}
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
