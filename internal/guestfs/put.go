package guestfs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"banger/internal/atomicfile"
)

// Put writes r to the absolute path name with mode perm, creating missing
// parent directories (0755), atomically: the file appears whole or not at
// all, replacing what was there. It is how the daemon copies files into a
// guest (`banger-agent put MODE PATH` over the agent's SSH channel), so
// that no tool beyond the agent has to be in the image.
func Put(r io.Reader, name string, perm os.FileMode) error {
	if !filepath.IsAbs(name) || filepath.Clean(name) != name {
		return fmt.Errorf("put %q: want a clean absolute path", name)
	}
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	if err := atomicfile.WriteFrom(name, r, perm.Perm()); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	return nil
}
