package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"banger/internal/access"
	"banger/internal/api"
)

// checkSocket refuses a daemon socket, or a directory holding it, that
// someone other than root and this user could have made or could replace:
// such a "daemon" would receive the files, keys and commands the CLI sends.
// A socket that does not exist yet is fine (the daemon makes it).
func checkSocket(path string) error {
	err := access.CheckSocket(path, access.Trusted(os.Geteuid()))
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return fmt.Errorf("refusing to talk to bangerd: %w", err)
}

// newClient is a client of the daemon on path, once path is checked.
func newClient(path string) (*api.Client, error) {
	if err := checkSocket(path); err != nil {
		return nil, err
	}
	return api.NewClient(path), nil
}
