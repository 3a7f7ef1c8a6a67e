// Package imageref holds the rules for how images are referred to: what
// makes a valid image (or kernel) name, the name derived from a reference,
// and what a reference given to `image pull` points at. The CLI, the config
// and the image service all use it, so that each rule is written once.
package imageref

import (
	"regexp"
	"strings"
)

// NamePattern is the rule for image and kernel names, as a regular
// expression: 1-63 lowercase letters, digits, '.' and '-', starting with a
// letter or digit.
const NamePattern = `^[a-z0-9][a-z0-9.-]{0,62}$`

// NameRule says NamePattern in words, for error messages.
const NameRule = "use 1-63 lowercase letters, digits, '.' and '-', starting with a letter or digit"

var (
	nameRE           = regexp.MustCompile(NamePattern)
	invalidNameChars = regexp.MustCompile(`[^a-z0-9.-]+`)
)

// ValidName reports whether name follows NamePattern.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// DeriveName turns an image reference or path into a valid image name:
// "docker.io/library/alpine:3.19" -> "alpine-3.19",
// "/srv/images/debian.tar" -> "debian".
func DeriveName(ref string) string {
	r := strings.TrimRight(strings.TrimSpace(ref), "/")
	var digest string
	if i := strings.Index(r, "@"); i >= 0 {
		r, digest = r[:i], r[i+1:]
	}
	base := r[strings.LastIndex(r, "/")+1:]
	tag := ""
	if i := strings.LastIndex(base, ":"); i >= 0 {
		base, tag = base[:i], base[i+1:]
	}
	for _, ext := range []string{".tar.gz", ".tgz", ".tar", ".oci"} {
		// Compare the suffix alone: lowercasing all of base can change its
		// length (invalid UTF-8 becomes U+FFFD), which once cut base out
		// of range (found by FuzzDeriveName).
		if n := len(base) - len(ext); tag == "" && n >= 0 && strings.EqualFold(base[n:], ext) {
			base = base[:n]
			break
		}
	}
	n := base
	switch {
	case tag != "":
		n += "-" + tag
	case digest != "":
		_, hex, _ := strings.Cut(digest, ":")
		n += "-" + hex[:min(12, len(hex))]
	}
	return clean(n)
}

// clean lowercases n, turns runs of other characters into '-' and trims it
// to a valid name ("image" when nothing is left).
func clean(n string) string {
	n = invalidNameChars.ReplaceAllString(strings.ToLower(n), "-")
	n = strings.TrimLeft(n, ".-")
	if len(n) > 63 {
		n = n[:63]
	}
	n = strings.TrimRight(n, ".-")
	if n == "" {
		return "image"
	}
	return n
}
