// Package digest computes the SHA-256 digests banger verifies downloads and
// cached files against.
package digest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// File returns the hex SHA-256 of the file at path.
func File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Reuse reports whether a cached file at path has the digest want. A file
// whose content no longer matches is removed, so that it is fetched again.
func Reuse(path, want string) (bool, error) {
	if _, err := os.Stat(path); err != nil {
		return false, nil
	}
	if got, err := File(path); err == nil && got == want {
		return true, nil
	}
	if err := os.Remove(path); err != nil {
		return false, fmt.Errorf("remove corrupt cached file %s: %w", path, err)
	}
	return false, nil
}
