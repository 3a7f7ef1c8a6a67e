package daemon

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"syscall"

	"banger/internal/access"
	"banger/internal/api"
)

// socketGroup is the gid of the banger group, whose members may use the
// daemon; ok is false when the host has no such group.
func socketGroup(groups access.GroupDB) (gid int, ok bool) {
	gid, err := groups.LookupGroup(access.Group)
	return gid, err == nil
}

// prepareRuntimeDir makes the directory of the socket and checks it. A
// directory banger made (mode 0700 or 0750, owned by the daemon's user)
// is opened to the banger group when there is one, so its members reach
// the socket; any other directory is left as it is, and refused when
// someone else could replace the socket in it.
func prepareRuntimeDir(dir string, groups access.GroupDB) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	euid := os.Geteuid()
	if err := access.CheckDir(dir, access.Trusted(euid)); err != nil {
		return err
	}
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	sys, _ := st.Sys().(*syscall.Stat_t)
	if sys == nil || int(sys.Uid) != euid || (st.Mode().Perm() != 0o700 && st.Mode().Perm() != 0o750) {
		return nil
	}
	gid, ok := socketGroup(groups)
	if !ok {
		return os.Chmod(dir, 0o700)
	}
	if err := os.Lchown(dir, -1, gid); err != nil {
		return fmt.Errorf("give %s to group %s: %w", dir, access.Group, err)
	}
	return os.Chmod(dir, 0o750)
}

// permitSocket gives the socket mode 0660 and the banger group when there
// is one, else 0600, then checks it as the CLI will.
func permitSocket(path string, groups access.GroupDB) error {
	mode := fs.FileMode(0o600)
	if gid, ok := socketGroup(groups); ok {
		if err := os.Lchown(path, -1, gid); err != nil {
			return fmt.Errorf("give %s to group %s: %w", path, access.Group, err)
		}
		mode = 0o660
	}
	if err := os.Chmod(path, mode); err != nil {
		return err
	}
	return access.CheckSocket(path, access.Trusted(os.Geteuid()))
}

type peerKey struct{}

type peer struct {
	caller access.Caller
	err    error
}

// connContext records who is on the other end of each connection, as the
// kernel saw it at connect time (SO_PEERCRED).
func connContext(ctx context.Context, c net.Conn) context.Context {
	cr, err := access.PeerCred(c)
	return context.WithValue(ctx, peerKey{}, peer{cr, err})
}

// admit puts the caller of r in its context, or refuses it. Without a
// policy (handler tests) every request is the daemon's own.
func (h *Handlers) admit(r *http.Request) (context.Context, error) {
	ctx := r.Context()
	if h.Access == nil {
		return ctx, nil
	}
	p, ok := ctx.Value(peerKey{}).(peer)
	if !ok || p.err != nil {
		return ctx, &api.Error{Kind: api.KindForbidden, Message: fmt.Sprintf("cannot tell who is calling, so refusing: %v", p.err)}
	}
	c, err := h.Access.Admit(p.caller)
	if err != nil {
		return ctx, &api.Error{Kind: api.KindForbidden, Message: err.Error()}
	}
	return access.WithCaller(ctx, c), nil
}

// callerAttrs are the log attributes of the caller in ctx.
func callerAttrs(ctx context.Context) []any {
	if c, ok := access.CallerFrom(ctx); ok {
		return []any{"uid", c.UID, "gid", c.GID, "pid", c.PID}
	}
	if p, ok := ctx.Value(peerKey{}).(peer); ok && p.err == nil {
		return []any{"uid", p.caller.UID, "gid", p.caller.GID, "pid", p.caller.PID}
	}
	return nil
}
