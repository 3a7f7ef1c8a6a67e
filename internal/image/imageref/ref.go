package imageref

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Kind says what a reference names on this host.
type Kind int

const (
	// Remote: nothing here; a catalog name or a registry reference.
	Remote Kind = iota
	// Layout: an existing directory holding an oci-layout file.
	Layout
	// Archive: an existing regular file (a docker-archive tarball).
	Archive
	// PlainDir: an existing directory that is not an OCI layout.
	PlainDir
	// Special: something else that exists (a device, a socket...).
	Special
)

func (k Kind) String() string {
	switch k {
	case Remote:
		return "remote"
	case Layout:
		return "oci-layout"
	case Archive:
		return "docker-archive"
	case PlainDir:
		return "directory"
	case Special:
		return "special file"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Classify says what ref names on this host (symlinks followed). A ref
// that cannot be stat'ed is Remote.
func Classify(ref string) Kind {
	fi, err := os.Stat(ref)
	switch {
	case err != nil:
		return Remote
	case fi.IsDir():
		if _, err := os.Stat(filepath.Join(ref, "oci-layout")); err != nil {
			return PlainDir
		}
		return Layout
	case fi.Mode().IsRegular():
		return Archive
	}
	return Special
}

// WrittenAsPath reports whether ref is written as a path ("/...", "./...",
// "../..."): it can only name a local file, never a catalog entry or a
// registry image.
func WrittenAsPath(ref string) bool {
	return strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, "./") || strings.HasPrefix(ref, "../")
}

// Local reports whether ref, as typed on the command line, names a local
// file or directory that the daemon must get as an absolute path. A ref
// with a '/' or a leading '.' is local when it exists (else it is e.g.
// ghcr.io/org/image:tag); a bare word only when it names a regular file or
// an OCI layout, so a catalog name still wins over a stray directory of the
// same name.
func Local(ref string) bool {
	switch k := Classify(ref); {
	case k == Remote:
		return false
	case strings.ContainsRune(ref, '/') || strings.HasPrefix(ref, "."):
		return true
	default:
		return k == Layout || k == Archive
	}
}
