package vm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"banger/internal/access"
	"banger/internal/agent"
	"banger/internal/limit"
	"banger/internal/progress"
)

// syncTimeout bounds one file or tree copied as a user, when the start
// has no deadline of its own.
const syncTimeout = 10 * time.Minute

type filesOfKey struct{}

// withFilesOf says whose permissions the file sync of ctx's start reads
// host files with: the VM owner's uid.
func withFilesOf(ctx context.Context, uid int) context.Context {
	return context.WithValue(ctx, filesOfKey{}, uid)
}

// syncFilesAs copies the FileSync entries as the user uid would: every
// host file is stat'ed, checked and read by a process running with that
// user's uid, gid and groups (access.User), so a user's VM gets only the
// files that user may read, even when the config names root's. ~/ paths
// are under that user's home. A file it may not read is reported and
// skipped, like a missing one.
func (g *Guest) syncFilesAs(ctx context.Context, c *ssh.Client, p progress.Func, uid int) error {
	u, err := access.LookupUser(uid)
	if err != nil {
		p.Msg("file_sync", fmt.Sprintf("skipping every file: %v", err))
		return nil
	}
	for _, f := range g.FileSync {
		if err := validGuestPath(f.Guest); err != nil {
			return err
		}
		host := f.Host
		if f.HomeRel != "" {
			host = filepath.Join(u.Home, f.HomeRel)
		}
		kind, perm, err := u.CheckRead(ctx, host)
		if err != nil {
			p.Msg("file_sync", fmt.Sprintf("skipping %s: %v", host, err))
			continue
		}
		as := userPipe{c: c, u: u, max: g.syncLimit()}
		if kind == "directory" {
			err = as.syncDir(ctx, host, f.Guest, p)
		} else {
			mode := f.Mode
			if mode == 0 {
				mode = perm
			}
			err = as.syncFile(ctx, host, f.Guest, mode)
		}
		if err != nil {
			return fmt.Errorf("file_sync %s -> %s (as %s): %w", host, f.Guest, u.Name, err)
		}
		p.Msg("file_sync", fmt.Sprintf("copied %s to %s (read as %s)", host, f.Guest, u.Name))
	}
	return nil
}

// userPipe streams what a command run as u prints into a command in the
// guest over c, max bytes at most (Guest.SyncLimit).
type userPipe struct {
	c   *ssh.Client
	u   access.User
	max int64
}

// syncFile streams host, read by cat running as u, into the guest.
func (as userPipe) syncFile(ctx context.Context, host, guest string, mode os.FileMode) error {
	stderr, err := as.pipe(ctx, []string{"cat", "--", host},
		agent.GuestBinary, "put", fmt.Sprintf("%o", mode.Perm()), path.Clean(guest))
	if err != nil && stderr != "" {
		return fmt.Errorf("%w: %s", err, stderr)
	}
	return err
}

// syncDir streams the tree at host, archived by tar running as u, into
// the guest. Files under it that u may not read are left out by tar and
// reported.
func (as userPipe) syncDir(ctx context.Context, host, guest string, p progress.Func) error {
	stderr, err := as.pipe(ctx, []string{"tar", "--create", "--file=-", "--directory=" + host, "."},
		"sh", "-c", `mkdir -p "$1" && tar -x --no-same-owner -C "$1"`, "banger-sync", path.Clean(guest))
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 2 && stderr != "" {
		// GNU tar goes on past files it cannot open and exits 2.
		p.Msg("file_sync", fmt.Sprintf("%s: left out what %s may not read: %s", host, as.u.Name, stderr))
		return nil
	}
	if err != nil && stderr != "" {
		return fmt.Errorf("%w: %s", err, stderr)
	}
	return err
}

// pipe runs hostArgv as u with its stdout (max bytes of it) as the stdin
// of guestArgv in the guest. It returns the end of hostArgv's stderr, and
// the guest command's error, else the host command's.
func (as userPipe) pipe(ctx context.Context, hostArgv []string, guestArgv ...string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, syncTimeout)
		defer cancel()
	}
	cmd := as.u.Command(ctx, hostArgv...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	stderr := &limit.Tail{Max: 4096}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("run %s as %s: %w", hostArgv[0], as.u.Name, err)
	}
	runErr := run(ctx, as.c, limit.Reader(out, as.max, "the file"), guestArgv...)
	_, _ = io.Copy(io.Discard, out) // the guest may have stopped reading early
	waitErr := cmd.Wait()
	msg := strings.TrimSpace(stderr.String())
	if runErr != nil {
		return msg, runErr
	}
	return msg, waitErr
}
