package guestfs

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Put writes r to the absolute path name with mode perm, creating missing
// parent directories (0755), atomically: the file appears whole or not at
// all, replacing what was there. It is how the daemon copies files into a
// guest (`banger-agent put MODE PATH` over the agent's SSH channel), so
// that no tool beyond the agent has to be in the image.
func Put(r io.Reader, name string, perm os.FileMode) (err error) {
	if !filepath.IsAbs(name) || filepath.Clean(name) != name {
		return fmt.Errorf("put %q: want a clean absolute path", name)
	}
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	f, err := os.CreateTemp(dir, ".banger-put-*")
	if err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := io.Copy(f, r); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	if err := f.Chmod(perm.Perm()); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	return nil
}
