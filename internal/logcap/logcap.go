// Package logcap writes logs that cannot fill a disk: a file capped in
// size, rotated into numbered generations (path.1, path.2, ...) of which a
// fixed number is kept. A guest's serial console and bangerd.log go
// through it.
//
// A log opened with Offsets also records, in path.start, the position of
// its oldest kept byte in the stream of everything ever written, so that
// a reader that follows the log by offset (`banger vm logs -f`) keeps its
// place across rotations (see Open).
package logcap

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"banger/internal/atomicfile"
)

// Options shape a Writer.
type Options struct {
	// Max is the most one generation holds, in bytes (> 0).
	Max int64
	// Keep is how many rotated generations are kept besides the current
	// file (>= 1): the log takes at most (Keep+1)*Max bytes.
	Keep int
	// Offsets records the stream position of the oldest kept byte in
	// path.start, for Open.
	Offsets bool
	// Mode is the files' permissions; 0 means 0600.
	Mode os.FileMode
}

// Writer is a size-capped, rotating log file. It is safe for concurrent
// use. A single write larger than Max keeps only its last Max bytes.
type Writer struct {
	path string
	o    Options

	mu   sync.Mutex
	f    *os.File
	size int64
}

// Create opens the log at path for appending, creating it if needed.
func Create(path string, o Options) (*Writer, error) {
	if o.Max <= 0 || o.Keep < 1 {
		return nil, fmt.Errorf("log %s: max %d and keep %d must be positive", path, o.Max, o.Keep)
	}
	if o.Mode == 0 {
		o.Mode = 0o600
	}
	w := &Writer{path: path, o: o}
	if err := w.open(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) open() error {
	f, err := os.OpenFile(w.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, w.o.Mode)
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("open log %s: not a regular file", w.path)
	}
	w.f, w.size = f, st.Size()
	return nil
}

// Write implements io.Writer: p goes into the current file, which is
// rotated first when p would take it past Max.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return 0, os.ErrClosed
	}
	n := len(p)
	if int64(len(p)) > w.o.Max {
		p = p[int64(len(p))-w.o.Max:]
	}
	if w.size > 0 && w.size+int64(len(p)) > w.o.Max {
		if err := w.rotate(); err != nil {
			return 0, err
		}
	}
	k, err := w.f.Write(p)
	w.size += int64(k)
	if err != nil {
		return k, err
	}
	return n, nil
}

// rotate moves path.i to path.i+1 (dropping the last), path to path.1,
// and opens a new path.
func (w *Writer) rotate() error {
	var dropped int64
	if w.o.Offsets {
		if st, err := os.Stat(Generation(w.path, w.o.Keep)); err == nil {
			dropped = st.Size()
		}
	}
	for i := w.o.Keep - 1; i >= 1; i-- {
		_ = os.Rename(Generation(w.path, i), Generation(w.path, i+1))
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	w.f = nil
	if err := os.Rename(w.path, Generation(w.path, 1)); err != nil {
		return fmt.Errorf("rotate log: %w", err)
	}
	if w.o.Offsets && dropped > 0 {
		start := readStart(w.path) + dropped
		if err := atomicfile.Write(startPath(w.path), []byte(strconv.FormatInt(start, 10)+"\n"), 0o600); err != nil {
			return fmt.Errorf("rotate log: %w", err)
		}
	}
	return w.open()
}

// Close closes the current file.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.f.Close()
	w.f = nil
	return err
}

// Generation is the path of rotated generation i (1 is the newest).
func Generation(path string, i int) string { return path + "." + strconv.Itoa(i) }

func startPath(path string) string { return path + ".start" }

// readStart is the recorded stream position of the oldest kept byte; 0
// when none is recorded.
func readStart(path string) int64 {
	b, err := os.ReadFile(startPath(path))
	if err != nil {
		return 0
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}
