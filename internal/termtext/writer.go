package termtext

import (
	"io"
	"strings"
	"unicode/utf8"
)

// maxPending bounds what a Writer holds back while it waits for the end
// of an escape sequence or a character split between two writes.
const maxPending = 64

// Writer passes a stream (a serial console) to a terminal with its control
// characters escaped, except newlines, tabs, the carriage return of a
// "\r\n" line end, and SGR sequences (ESC [ digits and ';' m: colours and
// bold), which are harmless and make boot logs readable. Call Flush at
// the end of the stream.
type Writer struct {
	w       io.Writer
	pending []byte
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write escapes p and writes it; it reports len(p) written when the
// underlying write succeeds.
func (t *Writer) Write(p []byte) (int, error) {
	data := append(t.pending, p...)
	var b strings.Builder
	i := 0
	for i < len(data) {
		n, complete := t.step(&b, data[i:])
		if !complete {
			break
		}
		i += n
	}
	t.pending = append(t.pending[:0:0], data[i:]...)
	if _, err := io.WriteString(t.w, b.String()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// step writes the escaped form of the item that starts data and says how
// many bytes it took; complete is false when data ends inside the item
// and more input may finish it.
func (t *Writer) step(b *strings.Builder, data []byte) (n int, complete bool) {
	short := len(data) < maxPending
	switch {
	case data[0] == '\r' && len(data) == 1 && short:
		return 0, false
	case data[0] == '\r' && data[1] == '\n':
		b.WriteString("\r\n")
		return 2, true
	case data[0] == 0x1b:
		if sgr, ok := sgrLen(data); ok {
			b.Write(data[:sgr])
			return sgr, true
		} else if sgr < 0 && short {
			return 0, false
		}
	case !utf8.FullRune(data) && short:
		return 0, false
	}
	r, size := utf8.DecodeRune(data)
	writeRune(b, r, size, data[0], "\n\t")
	return size, true
}

// sgrLen returns the length of the SGR sequence data starts with and true;
// or -1 when data ends before the sequence could be told apart; or 0 when
// it is no SGR sequence.
func sgrLen(data []byte) (int, bool) {
	if len(data) < 2 {
		return -1, false
	}
	if data[1] != '[' {
		return 0, false
	}
	for i := 2; i < len(data); i++ {
		c := data[i]
		switch {
		case c == 'm':
			return i + 1, true
		case c >= '0' && c <= '9' || c == ';':
		default:
			return 0, false
		}
	}
	return -1, false
}

// Flush writes what the Writer held back, escaped.
func (t *Writer) Flush() error {
	if len(t.pending) == 0 {
		return nil
	}
	s := escape(string(t.pending), "\n\t")
	t.pending = nil
	_, err := io.WriteString(t.w, s)
	return err
}
