package termtext

import (
	"bytes"
	"testing"
)

// FuzzWriter: whatever a guest prints on its console, what reaches the
// terminal holds no control sequence but newlines, tabs, CRLF and SGR
// colours, does not depend on how the stream was cut into writes, and
// Field leaves no control character at all.
func FuzzWriter(f *testing.F) {
	f.Add([]byte(hostile), uint(5))
	f.Fuzz(func(t *testing.T, data []byte, cut uint) {
		at := int(cut % uint(len(data)+1))
		var whole, split bytes.Buffer
		w := NewWriter(&whole)
		w.Write(data)
		w.Flush()
		w = NewWriter(&split)
		w.Write(data[:at])
		w.Write(data[at:])
		w.Flush()
		if whole.String() != split.String() {
			t.Fatalf("cut at %d: %q, whole: %q", at, split.String(), whole.String())
		}
		if m := unsafe.FindString(whole.String()); m != "" {
			t.Fatalf("%q reached the terminal (from %q)", m, data)
		}
		if s := Field(string(data)); needsEscape(s, "") {
			t.Fatalf("Field(%q) = %q still holds controls", data, s)
		}
	})
}
