package termtext

import (
	"bytes"
	"regexp"
	"testing"
)

// hostile is what a guest might name a process or print on its console:
// a title change, an OSC 52 clipboard write, a cursor move with an erase
// that hides the line before it, a bell, a raw C1 CSI (UTF-8 and a bare
// byte), DEL and a terminal query whose answer lands in the user's input.
const hostile = "nginx\x1b]0;pwned\x07\x1b]52;c;cm0gLXJmIH4K\x07\x1b[2K\x1b[1A\r\u009b31m\x9b\x7f\x1b[c\n\tok"

func TestField(t *testing.T) {
	got := Field(hostile)
	want := `nginx\x1b]0;pwned\x07\x1b]52;c;cm0gLXJmIH4K\x07\x1b[2K\x1b[1A\x0d\u009b31m\x9b\x7f\x1b[c\x0a\x09ok`
	if got != want {
		t.Fatalf("Field:\n got %s\nwant %s", got, want)
	}
	for _, s := range []string{"", "nginx", "café ☕", "a b"} {
		if Field(s) != s {
			t.Errorf("Field(%q) = %q, want it unchanged", s, Field(s))
		}
	}
}

func TestText(t *testing.T) {
	got := Text("line one\n\tline two\x1b[2J")
	if want := "line one\n\tline two\\x1b[2J"; got != want {
		t.Fatalf("Text = %q, want %q", got, want)
	}
}

// unsafe matches output that is not fit for a terminal: anything but
// printable text, newlines, tabs, "\r\n" and SGR sequences.
var unsafe = regexp.MustCompile(`\r[^\n]|\r$|\x1b(?:[^\[]|\[[0-9;]*[^0-9;m]|\[[0-9;]*$|$)|[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\x7f\x{80}-\x{9f}]`)

func TestWriterKeepsColoursEscapesTheRest(t *testing.T) {
	in := "[  \x1b[0;32mOK  \x1b[0m] Started\r\n" + hostile + "\x1b[1"
	var out bytes.Buffer
	w := NewWriter(&out)
	if _, err := w.Write([]byte(in)); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "[  \x1b[0;32mOK  \x1b[0m] Started\r\n" +
		`nginx\x1b]0;pwned\x07\x1b]52;c;cm0gLXJmIH4K\x07\x1b[2K\x1b[1A\x0d\u009b31m\x9b\x7f\x1b[c` + "\n\tok" + `\x1b[1`
	if out.String() != want {
		t.Fatalf("got  %q\nwant %q", out.String(), want)
	}
	if unsafe.MatchString(out.String()) {
		t.Fatalf("output still holds control sequences: %q", unsafe.FindString(out.String()))
	}
}

// TestWriterSplit: the output does not depend on how the stream is cut
// into writes.
func TestWriterSplit(t *testing.T) {
	in := []byte("a\x1b[31mred\x1b[0m\r\nb\x1b]0;x\x07 é\u009b\r")
	var whole bytes.Buffer
	w := NewWriter(&whole)
	w.Write(in)
	w.Flush()
	for cut := range len(in) {
		var out bytes.Buffer
		w := NewWriter(&out)
		w.Write(in[:cut])
		w.Write(in[cut:])
		w.Flush()
		if out.String() != whole.String() {
			t.Fatalf("cut at %d: %q, want %q", cut, out.String(), whole.String())
		}
	}
}
