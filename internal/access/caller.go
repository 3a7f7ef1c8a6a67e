// Package access decides who may use the daemon: it reads a caller's
// identity from its unix socket connection (SO_PEERCRED), carries it in a
// request's context, says whether it may use the daemon at all and whether
// it sees everything (root) or only what it owns, and checks the socket
// and its directory before either side trusts them.
package access

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/user"
	"strconv"

	"golang.org/x/sys/unix"
)

// Group is the group whose members may use the daemon besides root.
const Group = "banger"

// Caller is who sent a request, as the kernel reported it when the
// connection was made.
type Caller struct {
	UID, GID, PID int
	// Admin callers (root, or the user the daemon runs as) see and
	// control everything; the others only what they own.
	Admin bool
}

func (c Caller) String() string {
	return fmt.Sprintf("uid %d (gid %d, pid %d)", c.UID, c.GID, c.PID)
}

// PeerCred reads the identity of the process on the other end of conn,
// which must be a unix socket connection.
func PeerCred(conn net.Conn) (Caller, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return Caller{}, fmt.Errorf("peer credentials: %T is not a unix socket connection", conn)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Caller{}, fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Caller{}, fmt.Errorf("peer credentials: %w", err)
	}
	if credErr != nil {
		return Caller{}, fmt.Errorf("peer credentials: SO_PEERCRED: %w", credErr)
	}
	return Caller{UID: int(cred.Uid), GID: int(cred.Gid), PID: int(cred.Pid)}, nil
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller ctx carries. ok is false for the daemon's
// own work (reconcile, DNS, exits), which no caller started.
func CallerFrom(ctx context.Context) (c Caller, ok bool) {
	c, ok = ctx.Value(callerKey{}).(Caller)
	return c, ok
}

// Owns says whether the caller in ctx may see and control something owned
// by uid: the daemon itself and admins may, others only their own.
func Owns(ctx context.Context, uid int) bool {
	c, ok := CallerFrom(ctx)
	return !ok || c.Admin || c.UID == uid
}

// Owner is the uid that owns what the caller in ctx creates: its own, or
// root's for the daemon's own work.
func Owner(ctx context.Context) int {
	c, _ := CallerFrom(ctx)
	return c.UID
}

// ErrRefused marks a caller that may not use the daemon.
var ErrRefused = errors.New("permission denied")

// Policy says who may use a daemon that runs as DaemonUID: root and
// DaemonUID as admins, members of Group as users. Groups looks a group up
// by name and says whether a uid is a member; nil reads /etc/group.
type Policy struct {
	DaemonUID int
	Groups    GroupDB
}

// GroupDB answers group questions; SystemGroups reads the host's.
type GroupDB interface {
	// LookupGroup returns the gid of the group called name.
	LookupGroup(name string) (gid int, err error)
	// Member says whether uid has gid as its primary or a supplementary group.
	Member(uid, gid int) bool
}

// Admit fills in c.Admin, or refuses c with a message that says how to
// get access.
func (p Policy) Admit(c Caller) (Caller, error) {
	if c.UID == 0 || c.UID == p.DaemonUID {
		c.Admin = true
		return c, nil
	}
	groups := p.Groups
	if groups == nil {
		groups = SystemGroups{}
	}
	gid, err := groups.LookupGroup(Group)
	if err != nil {
		return c, fmt.Errorf("%w: uid %d is not root and there is no %q group on this host; "+
			"as root, run `groupadd --system %s`, `usermod -aG %s USER`, and restart bangerd", ErrRefused, c.UID, Group, Group, Group)
	}
	if c.GID != gid && !groups.Member(c.UID, gid) {
		return c, fmt.Errorf("%w: uid %d is not root and not in the %q group; as root, run `usermod -aG %s USER` "+
			"and log in again", ErrRefused, c.UID, Group, Group)
	}
	return c, nil
}

// SystemGroups reads the host's group database (/etc/group).
type SystemGroups struct{}

// LookupGroup returns the gid of group name.
func (SystemGroups) LookupGroup(name string) (int, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(g.Gid)
}

// Member says whether uid belongs to gid, by the group database (not by
// the groups of some process, which a pid could be reused to fake).
func (SystemGroups) Member(uid, gid int) bool {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return false
	}
	ids, err := u.GroupIds()
	if err != nil {
		return false
	}
	want := strconv.Itoa(gid)
	for _, id := range ids {
		if id == want {
			return true
		}
	}
	return false
}

// RequireAdmin refuses a caller that is not an admin; what says what it
// asked to do. The daemon's own work passes.
func RequireAdmin(ctx context.Context, what string) error {
	if c, ok := CallerFrom(ctx); ok && !c.Admin {
		return fmt.Errorf("%s: %w: only root may do this (uid %d asked)", what, ErrRefused, c.UID)
	}
	return nil
}
