// Package sparse copies files so that holes stay holes: a copy never
// allocates disk blocks for data that is all zeros.
package sparse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Progress is told how many of total bytes are done.
type Progress func(done, total int64)

// ErrNotRegular is returned by CopyFile for a source that is not a regular
// file.
var ErrNotRegular = errors.New("not a regular file")

// block is the unit of hole detection: an all-zero block is not written.
const block = 64 << 10

// Write copies r into dst, a new or empty file, from its start. All-zero
// blocks are left as holes; dst's size is set to the bytes copied and dst
// is synced. It returns the bytes copied.
func Write(dst *os.File, r io.Reader) (int64, error) {
	n, err := writeAt(context.Background(), dst, 0, r, make([]byte, 1<<20), nil)
	if err != nil {
		return n, err
	}
	if err := dst.Truncate(n); err != nil {
		return n, err
	}
	return n, dst.Sync()
}

// Copy copies size bytes of the regular file src into dst, a new or empty
// file. Only src's data extents are read (SEEK_DATA/SEEK_HOLE), so its
// holes stay holes, and all-zero blocks inside them become holes too. dst
// ends up size bytes long and synced. p, when not nil, is told the
// progress.
func Copy(ctx context.Context, dst, src *os.File, size int64, p Progress) error {
	buf := make([]byte, 1<<20)
	var off, reported int64
	tell := func(done int64) {
		if p != nil && done > reported {
			reported = done
			p(done, size)
		}
	}
	for off < size {
		data, hole, err := nextExtent(src, off, size)
		if err != nil {
			return err
		}
		if data >= size {
			break
		}
		n, err := writeAt(ctx, dst, data, io.NewSectionReader(src, data, hole-data), buf, func(done int64) { tell(data + done) })
		if err != nil {
			return fmt.Errorf("copy %d..%d: %w", data, hole, err)
		}
		if n != hole-data {
			return fmt.Errorf("copy %d..%d: %w", data, hole, io.ErrUnexpectedEOF)
		}
		off = hole
	}
	tell(size)
	if err := dst.Truncate(size); err != nil {
		return err
	}
	return dst.Sync()
}

// nextExtent finds the data extent [data, hole) at or after off. Past the
// last extent data is size. A filesystem that cannot tell its holes
// reports the rest of the file as data.
func nextExtent(f *os.File, off, size int64) (data, hole int64, err error) {
	fd := int(f.Fd())
	data, err = unix.Seek(fd, off, unix.SEEK_DATA)
	switch {
	case errors.Is(err, unix.ENXIO):
		return size, size, nil // no data after off
	case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP):
		return off, size, nil
	case err != nil:
		return 0, 0, fmt.Errorf("seek data at %d: %w", off, err)
	}
	hole, err = unix.Seek(fd, data, unix.SEEK_HOLE)
	if err != nil {
		return 0, 0, fmt.Errorf("seek hole at %d: %w", data, err)
	}
	return data, min(hole, size), nil
}

// CopyFile copies the regular file at src to dst, which must not exist
// (it is made with mode 0644), as Copy does. A source whose size changes
// during the copy is an error.
func CopyFile(ctx context.Context, src, dst string, p Progress) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return CopyFrom(ctx, in, dst, p)
}

// CopyFrom is CopyFile from a file already open: the file copied is the
// one in refers to, whatever its path names by now.
func CopyFrom(ctx context.Context, in *os.File, dst string, p Progress) (err error) {
	src := in.Name()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s: %w", src, ErrNotRegular)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	if err := Copy(ctx, out, in, fi.Size(), p); err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	if after, err := in.Stat(); err == nil && after.Size() != fi.Size() {
		return fmt.Errorf("%s changed while being copied (%d bytes, now %d)", src, fi.Size(), after.Size())
	}
	return nil
}

// writeAt copies r into dst at off, skipping all-zero blocks, and returns
// the bytes read from r. done, when not nil, is told the bytes so far.
func writeAt(ctx context.Context, dst *os.File, off int64, r io.Reader, buf []byte, done func(int64)) (int64, error) {
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, rerr := io.ReadFull(r, buf)
		for i := 0; i < k; i += block {
			chunk := buf[i:min(i+block, k)]
			if allZero(chunk) {
				continue
			}
			if _, err := dst.WriteAt(chunk, off+n+int64(i)); err != nil {
				return n, err
			}
		}
		n += int64(k)
		if k > 0 && done != nil {
			done(n)
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
