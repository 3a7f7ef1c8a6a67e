package vm

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/crypto/ssh"

	"banger/internal/agent"
	"banger/internal/progress"
	"banger/internal/shquote"
)

// FileSync is a host file or directory copied into every VM at each start.
type FileSync struct {
	Host  string      // absolute host path
	Guest string      // absolute guest path under /root
	Mode  os.FileMode // for a file; 0 keeps the host file's mode
	// HomeRel, when set, is the path under a home directory the config
	// gave as ~/HomeRel: Host for the daemon's user, and the same path
	// under the owner's home for a VM of another user.
	HomeRel string
}

// syncFiles copies the FileSync entries over an SSH connection. A missing
// host path is reported and skipped: it must not keep a VM from starting.
// For a VM owned by a user other than root and the daemon's own (see
// withFilesOf), files are read as that user (syncFilesAs).
func (g *Guest) syncFiles(ctx context.Context, c *ssh.Client, p progress.Func) error {
	if uid, ok := ctx.Value(filesOfKey{}).(int); ok && uid != 0 && uid != os.Geteuid() {
		return g.syncFilesAs(ctx, c, p, uid)
	}
	for _, f := range g.FileSync {
		if err := validGuestPath(f.Guest); err != nil {
			return err
		}
		st, err := os.Stat(f.Host)
		if err != nil {
			p.Msg("file_sync", fmt.Sprintf("skipping %s: %v", f.Host, err))
			continue
		}
		if st.IsDir() {
			err = syncDir(c, f)
		} else {
			err = syncFile(c, f, st)
		}
		if err != nil {
			return fmt.Errorf("file_sync %s -> %s: %w", f.Host, f.Guest, err)
		}
		p.Msg("file_sync", fmt.Sprintf("copied %s to %s", f.Host, f.Guest))
	}
	return nil
}

func validGuestPath(p string) error {
	clean := path.Clean(p)
	if !path.IsAbs(p) || !strings.HasPrefix(clean+"/", "/root/") {
		return fmt.Errorf("file_sync guest path %q: give a path under /root", p)
	}
	return nil
}

func run(c *ssh.Client, stdin io.Reader, argv ...string) error {
	sess, err := c.NewSession()
	if err != nil {
		return err
	}
	defer sess.Close()
	sess.Stdin = stdin
	out, err := sess.CombinedOutput(shquote.Join(argv...))
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func syncFile(c *ssh.Client, f FileSync, st fs.FileInfo) error {
	mode := f.Mode
	if mode == 0 {
		mode = st.Mode().Perm()
	}
	src, err := os.Open(f.Host)
	if err != nil {
		return err
	}
	defer src.Close()
	return run(c, src, agent.GuestBinary, "put", fmt.Sprintf("%o", mode.Perm()), path.Clean(f.Guest))
}

func syncDir(c *ssh.Client, f FileSync) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarDir(f.Host, pw)) }()
	defer pr.Close()
	return run(c, pr, "sh", "-c", `mkdir -p "$1" && tar -x --no-same-owner -C "$1"`, "banger-sync", path.Clean(f.Guest))
}

// tarDir writes the regular files, directories and symlinks under root;
// other files (sockets, pipes, devices) are skipped.
func tarDir(root string, w io.Writer) error {
	tw := tar.NewWriter(w)
	if err := tw.AddFS(syncFS{os.DirFS(root)}); err != nil {
		return err
	}
	return tw.Close()
}

// syncFS is a directory tree without its special files, which
// tar.Writer.AddFS refuses. Symlinks are kept, as links.
type syncFS struct{ fsys fs.FS }

func (s syncFS) Open(name string) (fs.File, error)      { return s.fsys.Open(name) }
func (s syncFS) ReadLink(name string) (string, error)   { return fs.ReadLink(s.fsys, name) }
func (s syncFS) Lstat(name string) (fs.FileInfo, error) { return fs.Lstat(s.fsys, name) }
func (s syncFS) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(s.fsys, name)
	kept := entries[:0]
	for _, e := range entries {
		if t := e.Type(); t.IsRegular() || t.IsDir() || t == fs.ModeSymlink {
			kept = append(kept, e)
		}
	}
	return kept, err
}

// gitIdentityScript sets the global git identity ($1 name, $2 email) with
// git where the guest has it; in an image without git (a container image)
// it writes $3, the same identity as a ~/.gitconfig, unless one exists, so
// a git installed later finds it.
const gitIdentityScript = `if command -v git >/dev/null 2>&1; then
	if [ -n "$1" ]; then git config --global user.name "$1" || exit 1; fi
	if [ -n "$2" ]; then git config --global user.email "$2" || exit 1; fi
	exit 0
fi
if [ ! -e "$HOME/.gitconfig" ]; then printf '%s' "$3" > "$HOME/.gitconfig"; fi`

// setGitIdentity sets the guest's global git identity (kept on the work
// disk, in /root/.gitconfig). Empty values are left alone.
func setGitIdentity(c *ssh.Client, g GitIdentity) error {
	if g.Name == "" && g.Email == "" {
		return nil
	}
	if err := run(c, nil, "sh", "-c", gitIdentityScript, "sh", g.Name, g.Email, gitConfigFile(g)); err != nil {
		return fmt.Errorf("set the git identity in the guest: %w", err)
	}
	return nil
}

// gitConfigFile is g as a gitconfig file, its values quoted as git
// quotes them.
func gitConfigFile(g GitIdentity) string {
	quote := func(v string) string {
		v = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", " ", "\t", " ").Replace(v)
		return `"` + v + `"`
	}
	out := "[user]\n"
	if g.Name != "" {
		out += "\tname = " + quote(g.Name) + "\n"
	}
	if g.Email != "" {
		out += "\temail = " + quote(g.Email) + "\n"
	}
	return out
}
