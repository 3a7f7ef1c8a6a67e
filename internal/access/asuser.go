package access

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// User is a host user as whom the daemon reads files that user named, so
// the kernel applies that user's permissions and not root's.
type User struct {
	Name     string
	UID, GID int
	Groups   []uint32 // supplementary groups
	Home     string
}

// LookupUser reads uid's name, primary group, groups and home from the
// host's user database.
func LookupUser(uid int) (User, error) {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return User{}, fmt.Errorf("look up uid %d: %w", uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return User{}, fmt.Errorf("look up uid %d: gid %q: %w", uid, u.Gid, err)
	}
	out := User{Name: u.Username, UID: uid, GID: gid, Home: u.HomeDir}
	ids, err := u.GroupIds()
	if err != nil {
		return User{}, fmt.Errorf("look up the groups of %s: %w", u.Username, err)
	}
	for _, id := range ids {
		if g, err := strconv.ParseUint(id, 10, 32); err == nil {
			out.Groups = append(out.Groups, uint32(g))
		}
	}
	return out, nil
}

// Command runs argv (no shell) as u: its uid, gid and groups, in /, with a
// minimal environment. Files it opens are opened with u's permissions.
func (u User) Command(ctx context.Context, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "HOME=" + u.Home}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(u.UID), Gid: uint32(u.GID), Groups: u.Groups},
		Setsid:     true,
	}
	return cmd
}

// CheckTimeout bounds each check a User runs (a path on a hung network
// file system must not hold a request forever).
const CheckTimeout = 30 * time.Second

// output runs argv as u and returns its stdout, or an error that quotes
// its stderr.
func (u User) output(ctx context.Context, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	cmd := u.Command(ctx, argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("%w: %s cannot read it: %s", ErrRefused, u.Name, msg)
	}
	return stdout.String(), nil
}

// Stat says what path is (stat's %F: "regular file", "directory", ...)
// and its permission bits, as u sees it, following symlinks as u's own
// tools would. A path u cannot reach is an error.
func (u User) Stat(ctx context.Context, path string) (kind string, perm fs.FileMode, err error) {
	out, err := u.output(ctx, "stat", "--dereference", "--format=%a %F", "--", path)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", path, err)
	}
	mode, kind, _ := strings.Cut(strings.TrimSpace(out), " ")
	m, err := strconv.ParseUint(mode, 8, 32)
	if err != nil {
		return "", 0, fmt.Errorf("stat %s as %s: unexpected %q", path, u.Name, out)
	}
	return kind, fs.FileMode(m).Perm(), nil
}

// IsRegular says whether kind (from Stat) is a regular file.
func IsRegular(kind string) bool { return kind == "regular file" || kind == "regular empty file" }

// CheckRead says whether u may read path: a regular file u can open for
// reading (opened, not just checked with access(2)), or a directory u can
// list and enter. Anything else (a device, a pipe) is refused.
func (u User) CheckRead(ctx context.Context, path string) (kind string, perm fs.FileMode, err error) {
	kind, perm, err = u.Stat(ctx, path)
	if err != nil {
		return "", 0, err
	}
	var argv []string
	switch {
	case IsRegular(kind):
		// nonblock: a file swapped for a fifo since the stat does not
		// hang the open.
		argv = []string{"dd", "if=" + path, "iflag=nonblock", "of=/dev/null", "count=0", "status=none"}
	case kind == "directory":
		argv = []string{"find", path, "-maxdepth", "0", "-readable", "-executable"}
	default:
		return "", 0, fmt.Errorf("%w: %s is a %s, not a regular file or a directory", ErrRefused, path, kind)
	}
	out, err := u.output(ctx, argv...)
	if err != nil {
		return "", 0, fmt.Errorf("%s: %w", path, err)
	}
	if kind == "directory" && strings.TrimSpace(out) == "" {
		return "", 0, fmt.Errorf("%w: %s cannot read the directory %s", ErrRefused, u.Name, path)
	}
	return kind, perm, nil
}

// CheckReadable refuses paths the caller in ctx cannot read itself. The
// daemon's own work and admins may name any path; empty paths are skipped.
func CheckReadable(ctx context.Context, paths ...string) error {
	c, ok := CallerFrom(ctx)
	if !ok || c.Admin {
		return nil
	}
	u, err := LookupUser(c.UID)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRefused, err)
	}
	for _, p := range paths {
		if p == "" {
			continue
		}
		if _, _, err := u.CheckRead(ctx, p); err != nil {
			return err
		}
	}
	return nil
}
