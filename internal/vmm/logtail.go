package vmm

import (
	"bytes"
	"io"
	"os"
	"strings"
)

// Tail returns at most the last n bytes of the file at path, starting at a
// line boundary; "" when it cannot be read.
func Tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-n, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, st.Size()-off))
	if err != nil {
		return ""
	}
	if off > 0 {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return strings.TrimSpace(string(b))
}

// LogTail formats the end of a VMM's log for an error message, naming it.
func LogTail(name, path string) string {
	t := Tail(path, 2048)
	if t == "" {
		return ""
	}
	return "\n" + name + ":\n" + t
}
