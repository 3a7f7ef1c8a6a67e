package logcap

import (
	"errors"
	"io"
	"os"
)

// Open reads the log at path (with up to keep rotated generations) from
// stream position offset on, oldest generation first, up to what it held
// when opened. Positions count every byte ever written to the log when it
// was created with Offsets, so a reader that adds what it read to its
// offset keeps its place across rotations; an offset older than the
// oldest kept byte starts there. A missing log reads as empty.
func Open(path string, keep int, offset int64) (io.ReadCloser, error) {
	start := readStart(path)
	var files multiCloser
	var parts []io.Reader
	pos := start
	for i := keep; i >= 0; i-- {
		p := path
		if i > 0 {
			p = Generation(path, i)
		}
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			files.Close()
			return nil, err
		}
		files = append(files, f)
		st, err := f.Stat()
		if err != nil {
			files.Close()
			return nil, err
		}
		size := st.Size()
		if offset < pos+size {
			from := max(offset-pos, 0)
			parts = append(parts, io.NewSectionReader(f, from, size-from))
		}
		pos += size
	}
	return readCloser{io.MultiReader(parts...), files}, nil
}

type multiCloser []*os.File

func (m multiCloser) Close() error {
	for _, f := range m {
		f.Close()
	}
	return nil
}

type readCloser struct {
	io.Reader
	multiCloser
}
