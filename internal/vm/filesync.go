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
	"banger/internal/limit"
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
			err = syncDir(ctx, c, f, g.syncLimit())
		} else {
			err = syncFile(ctx, c, f, st, g.syncLimit())
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

// maxOutput is how much of a guest command's output (stdout and stderr
// together) the daemon keeps; more fails the command. The commands the
// daemon runs (put, tar, grep, git config) say a line or two.
const maxOutput = 64 << 10

// run runs argv in the guest with stdin, until it exits or ctx ends. Its
// output is kept for the error, up to maxOutput: more ends the session.
func run(ctx context.Context, c *ssh.Client, stdin io.Reader, argv ...string) error {
	sess, err := c.NewSession()
	if err != nil {
		return err
	}
	defer sess.Close()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out := limit.NewBuffer(maxOutput, "the output of "+argv[0]+" in the guest", func() { cancel(nil) })
	sess.Stdin, sess.Stdout, sess.Stderr = stdin, out, out
	stop := context.AfterFunc(ctx, func() { _ = sess.Close() })
	defer stop()
	err = sess.Run(shquote.Join(argv...))
	if lerr := out.Err(); lerr != nil {
		return lerr
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s in the guest: %w", argv[0], context.Cause(ctx))
	}
	if msg := strings.TrimSpace(string(out.Bytes())); err != nil && msg != "" {
		return fmt.Errorf("%w: %s", err, msg)
	}
	return err
}

// syncLimit is the most one [[file_sync]] entry sends (Guest.SyncLimit).
func (g *Guest) syncLimit() int64 {
	if g.SyncLimit > 0 {
		return g.SyncLimit
	}
	return DefaultSyncLimit
}

// DefaultSyncLimit is the most one [[file_sync]] entry sends to a guest:
// the entries are dotfiles and credentials, and a mistaken `host = "/"`
// must not stream the host's disk into every VM.
const DefaultSyncLimit = 1 << 30

func syncFile(ctx context.Context, c *ssh.Client, f FileSync, st fs.FileInfo, max int64) error {
	mode := f.Mode
	if mode == 0 {
		mode = st.Mode().Perm()
	}
	src, err := os.Open(f.Host)
	if err != nil {
		return err
	}
	defer src.Close()
	in := limit.Reader(src, max, "the file")
	return run(ctx, c, in, agent.GuestBinary, "put", fmt.Sprintf("%o", mode.Perm()), path.Clean(f.Guest))
}

func syncDir(ctx context.Context, c *ssh.Client, f FileSync, max int64) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarDir(f.Host, pw)) }()
	defer pr.Close()
	return run(ctx, c, limit.Reader(pr, max, "the directory's tar stream"), "sh", "-c", `mkdir -p "$1" && tar -x --no-same-owner -C "$1"`, "banger-sync", path.Clean(f.Guest))
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

// gitIdentityScript sets the global git identity ($1 name, $2 email). A
// guest without a ~/.gitconfig (a new work disk) gets $3, the same
// identity as a file, written by the shell alone: what git config would
// write, without starting git twice, and what a git installed later
// finds. An existing one is changed with git where the guest has it.
const gitIdentityScript = `if [ ! -e "$HOME/.gitconfig" ]; then printf '%s' "$3" > "$HOME/.gitconfig"; exit; fi
if command -v git >/dev/null 2>&1; then
	if [ -n "$1" ]; then git config --global user.name "$1" || exit 1; fi
	if [ -n "$2" ]; then git config --global user.email "$2" || exit 1; fi
fi`

// setGitIdentity sets the guest's global git identity (kept on the work
// disk, in /root/.gitconfig). Empty values are left alone.
func setGitIdentity(ctx context.Context, c *ssh.Client, g GitIdentity) error {
	if g.Name == "" && g.Email == "" {
		return nil
	}
	if err := run(ctx, c, nil, "sh", "-c", gitIdentityScript, "sh", g.Name, g.Email, gitConfigFile(g)); err != nil {
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
