package golden

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// DefaultKeyring is Debian's archive keyring, from the package
// debian-archive-keyring (scripts/deps.sh installs it). It is used when
// Spec.Keyring is empty.
const DefaultKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg"

// verifyArgs are the debootstrap options that make it check the archive's
// signatures against keyring, and fail rather than go on without a check
// when the Release file is unsigned or the keyring is missing.
func verifyArgs(keyring string) []string {
	return []string{"--force-check-gpg", "--keyring=" + keyring}
}

// checkKeyring requires keyring to be an absolute path to a regular,
// non-empty file, so that a build never starts without the means to check
// the archive.
func checkKeyring(keyring string) error {
	if !filepath.IsAbs(keyring) {
		return fmt.Errorf("keyring %q must be an absolute path", keyring)
	}
	fi, err := os.Stat(keyring)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("the Debian archive keyring %s is missing, so the archive's signatures cannot be checked: install the package debian-archive-keyring (scripts/deps.sh does)", keyring)
	}
	if err != nil {
		return fmt.Errorf("checking the Debian archive keyring: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() == 0 {
		return fmt.Errorf("the Debian archive keyring %s is not a non-empty regular file: reinstall the package debian-archive-keyring", keyring)
	}
	return nil
}
