package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"

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
	if errors.Is(err, fs.ErrPermission) { // the directory is root's and the banger group's
		return socketDenied(path)
	}
	return fmt.Errorf("refusing to talk to bangerd: %w", err)
}

// socketDenied says why the kernel refused the connection and how to get
// access.
func socketDenied(path string) error {
	return fmt.Errorf("permission denied on bangerd's socket %s: only root and members of the %q group may use bangerd; "+
		"ask root to run `usermod -aG %s %s`, then log in again", path, access.Group, access.Group, userName())
}

func userName() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "$USER"
}

// newClient is a client of the daemon on path, once path is checked.
func newClient(path string) (*api.Client, error) {
	if err := checkSocket(path); err != nil {
		return nil, err
	}
	return api.NewClient(path), nil
}
