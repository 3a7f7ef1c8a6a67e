// Package termtext makes text a guest controls safe to print on the
// user's terminal: control characters, which a terminal would obey (set
// the title, write the clipboard with OSC 52, move the cursor to hide or
// overwrite text, answer queries into the user's input), are written as
// Go-style escapes instead (ESC becomes `\x1b`).
package termtext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Field escapes every control character of s, newlines and tabs
// included: s is one table cell or one value on a line.
func Field(s string) string { return escape(s, "") }

// Text escapes the control characters of s except newlines and tabs: s is
// a message of one or more lines.
func Text(s string) string { return escape(s, "\n\t") }

// escape writes s with every C0 and C1 control character, DEL and every
// byte that is not UTF-8 escaped, except the characters in keep.
func escape(s, keep string) string {
	if !needsEscape(s, keep) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		writeRune(&b, r, n, s[i], keep)
		i += n
	}
	return b.String()
}

func needsEscape(s, keep string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if isControl(r, n) && !strings.ContainsRune(keep, r) {
			return true
		}
		i += n
	}
	return false
}

// isControl reports whether the rune r, n bytes long, must be escaped:
// C0, DEL, C1, or a byte that does not start valid UTF-8.
func isControl(r rune, n int) bool {
	return r == utf8.RuneError && n == 1 || r < 0x20 || r >= 0x7f && r <= 0x9f
}

// writeRune writes r (n bytes of input starting with first) to b, escaped
// if it is a control character not in keep.
func writeRune(b *strings.Builder, r rune, n int, first byte, keep string) {
	switch {
	case !isControl(r, n) || strings.ContainsRune(keep, r):
		b.WriteRune(r)
	case r == utf8.RuneError || r < 0x80:
		fmt.Fprintf(b, `\x%02x`, first)
	default: // C1, valid UTF-8
		fmt.Fprintf(b, `\u%04x`, r)
	}
}
