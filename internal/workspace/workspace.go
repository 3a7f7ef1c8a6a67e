// Package workspace copies a git checkout from the host into a guest and
// brings the work done there back as a patch. The host side (this package,
// run by the CLI as the user) lists and packs the files; the guest side is
// a fixed POSIX shell script run over ssh, with every value passed as an
// argument, never spliced into the script.
package workspace

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Options choose what is copied.
type Options struct {
	Branch           string // branch name in the guest; default the host's current branch
	From             string // start from this revision instead of the host's working tree
	IncludeUntracked bool   // also copy untracked files that are not ignored
}

// Repo is a host repository ready to be copied.
type Repo struct {
	Root   string   // top of the working tree
	Name   string   // directory name, used as /root/<Name> in the guest
	Head   string   // commit the guest's branch points at ("" in a repo without commits)
	Branch string   // branch name in the guest
	Files  []string // working-tree paths to copy, slash-separated, sorted
	// FromRev is set when Options.From was given: the guest checks out that
	// commit and only untracked files (if asked for) come from the host.
	FromRev string
}

// GuestPath is where the repository lands in the guest.
func (r Repo) GuestPath() string { return "/root/" + r.Name }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Open inspects the repository at dir and lists what will be copied.
func Open(ctx context.Context, dir string, opts Options) (Repo, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return Repo{}, errors.New("git is not installed on this host: apt-get install git")
	}
	st, err := os.Stat(dir)
	if err != nil {
		return Repo{}, fmt.Errorf("workspace %s: %w", dir, err)
	}
	if !st.IsDir() {
		return Repo{}, fmt.Errorf("workspace %s: not a directory", dir)
	}
	if bare, err := git(ctx, dir, "rev-parse", "--is-bare-repository"); err == nil && strings.TrimSpace(bare) == "true" {
		return Repo{}, fmt.Errorf("workspace %s is a bare repository: clone it first (git clone %s work) and pass the clone", dir, dir)
	}
	top, err := git(ctx, dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return Repo{}, fmt.Errorf("workspace %s is not a git repository (run `git init` there, or pass a path inside a checkout)", dir)
	}
	r := Repo{Root: strings.TrimSpace(top)}
	r.Name = filepath.Base(r.Root)
	if !nameRE.MatchString(r.Name) || r.Name == "." || r.Name == ".." {
		return Repo{}, fmt.Errorf("workspace directory name %q: use letters, digits, '.', '_' and '-' only", r.Name)
	}
	if head, err := git(ctx, r.Root, "rev-parse", "--verify", "-q", "HEAD^{commit}"); err == nil {
		r.Head = strings.TrimSpace(head)
	}
	if opts.From != "" {
		rev, err := git(ctx, r.Root, "rev-parse", "--verify", "-q", opts.From+"^{commit}")
		if err != nil {
			return Repo{}, fmt.Errorf("--from %s: no such commit in %s", opts.From, r.Root)
		}
		r.FromRev = strings.TrimSpace(rev)
		r.Head = r.FromRev
	}
	r.Branch = opts.Branch
	if r.Branch == "" {
		if b, err := git(ctx, r.Root, "symbolic-ref", "-q", "--short", "HEAD"); err == nil {
			r.Branch = strings.TrimSpace(b)
		} else {
			r.Branch = "main"
		}
	}
	if _, err := git(ctx, r.Root, "check-ref-format", "--branch", r.Branch); err != nil {
		return Repo{}, fmt.Errorf("--branch %q is not a valid branch name", r.Branch)
	}
	var lists [][]string
	if r.FromRev == "" {
		out, err := git(ctx, r.Root, "ls-files", "-z", "--cached")
		if err != nil {
			return Repo{}, err
		}
		lists = append(lists, strings.Split(out, "\x00"))
	}
	if opts.IncludeUntracked {
		out, err := git(ctx, r.Root, "ls-files", "-z", "--others", "--exclude-standard")
		if err != nil {
			return Repo{}, err
		}
		lists = append(lists, strings.Split(out, "\x00"))
	}
	seen := map[string]bool{}
	for _, l := range lists {
		for _, f := range l {
			if f == "" || seen[f] {
				continue
			}
			seen[f] = true
			fi, err := os.Lstat(filepath.Join(r.Root, filepath.FromSlash(f)))
			if err != nil || !(fi.Mode().IsRegular() || fi.Mode()&os.ModeSymlink != 0) {
				continue // deleted in the working tree, or a submodule directory
			}
			r.Files = append(r.Files, f)
		}
	}
	sort.Strings(r.Files)
	return r, nil
}

// Pack writes the tar stream the guest script unpacks: the repository's
// history as a git bundle (repo.bundle) and the working-tree files under
// files/.
func (r Repo) Pack(ctx context.Context, w io.Writer) error {
	tw := tar.NewWriter(w)
	if r.Head != "" {
		tmp, err := os.MkdirTemp("", "banger-bundle-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		bundle := filepath.Join(tmp, "repo.bundle")
		if _, err := git(ctx, r.Root, "bundle", "create", "-q", bundle, "--all"); err != nil {
			return fmt.Errorf("bundle history of %s: %w", r.Root, err)
		}
		if err := addFile(tw, bundle, "repo.bundle"); err != nil {
			return err
		}
	}
	for _, f := range r.Files {
		if err := addFile(tw, filepath.Join(r.Root, filepath.FromSlash(f)), path.Join("files", f)); err != nil {
			return err
		}
	}
	return tw.Close()
}

func addFile(tw *tar.Writer, src, name string) error {
	fi, err := os.Lstat(src)
	if err != nil {
		return fmt.Errorf("pack %s: %w", src, err)
	}
	link := ""
	if fi.Mode()&os.ModeSymlink != 0 {
		if link, err = os.Readlink(src); err != nil {
			return fmt.Errorf("pack %s: %w", src, err)
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return fmt.Errorf("pack %s: %w", src, err)
	}
	hdr.Name = name
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "root", "root"
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("pack %s: %w", src, err)
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("pack %s: %w", src, err)
	}
	defer f.Close()
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("pack %s: %w", src, err)
	}
	return nil
}

// SyncScript unpacks a Pack stream from stdin into a fresh checkout.
// Arguments: $1 guest path, $2 branch, $3 head commit ("" if none),
// $4 "from" when the checkout comes from a revision rather than the host's
// working tree.
const SyncScript = `set -eu
command -v git >/dev/null || { echo "git is not installed in the guest" >&2; exit 127; }
dest=$1 branch=$2 head=$3 mode=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tar -x -C "$tmp"
rm -rf "$dest"
git init -q "$dest"
cd "$dest"
git symbolic-ref HEAD "refs/heads/$branch"
if [ -f "$tmp/repo.bundle" ]; then
	git fetch -q "$tmp/repo.bundle" '+refs/*:refs/banger-import/*'
	git for-each-ref --format='%(refname)' refs/banger-import/heads refs/banger-import/tags | while read -r ref; do
		git update-ref "refs/${ref#refs/banger-import/}" "$ref"
	done
	git for-each-ref --format='delete %(refname)' refs/banger-import | git update-ref --stdin
	if [ "$mode" = from ]; then
		git reset -q --hard "$head"
	else
		git reset -q "$head"
	fi
fi
if [ -d "$tmp/files" ]; then
	cp -a "$tmp/files/." "$dest/"
fi
git update-index -q --refresh >/dev/null 2>&1 || true
`

// ExportScript prints a patch of the guest's work that `git apply`
// accepts, without touching the guest's index or working tree: it stages
// into a throwaway index. Arguments: $1 guest path, $2 base commit (empty:
// HEAD, i.e. uncommitted changes only; a commit: also the commits made
// since it).
const ExportScript = `set -eu
cd "$1"
base=${2:-HEAD}
idx=$(mktemp)
trap 'rm -f "$idx"' EXIT
export GIT_INDEX_FILE="$idx"
if git rev-parse -q --verify HEAD >/dev/null; then
	git read-tree HEAD
else
	base=4b825dc642cb6eb9a060e54bf8d69288fbee4904
fi
git add -A
git diff --cached --binary "$base"
`

// ExecScript runs "$@" from $1 in the guest: cd, then exec, with the
// arguments passed as given.
const ExecScript = `cd "$1" || exit 1
shift
exec "$@"`
