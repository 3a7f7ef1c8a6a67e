package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"banger/internal/access"
	"banger/internal/api"
	"banger/internal/config"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type groupsOf map[int]bool // members of the banger group (gid 900)

func (g groupsOf) LookupGroup(string) (int, error) { return 900, nil }
func (g groupsOf) Member(uid, gid int) bool        { return gid == 900 && g[uid] }

// TestCallerIsLoggedOverTheSocket: over a real unix socket, the daemon
// reads the caller's credentials (SO_PEERCRED) and logs them with the
// request.
func TestCallerIsLoggedOverTheSocket(t *testing.T) {
	d := newTestDaemon(t)
	var logs lockedBuffer
	d.h.Log = slog.New(slog.NewTextHandler(&logs, nil))
	d.h.Access = &access.Policy{DaemonUID: os.Geteuid(), Groups: groupsOf{}}
	sock := filepath.Join(t.TempDir(), "peer.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: d.h.Routes(), ConnContext: connContext}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	if _, err := api.NewClient(sock).ListVMs(context.Background()); err != nil {
		t.Fatalf("list as uid %d: %v", os.Geteuid(), err)
	}
	want := fmt.Sprintf("uid=%d gid=%d pid=%d", os.Geteuid(), os.Getegid(), os.Getpid())
	if !strings.Contains(logs.String(), "msg=request") || !strings.Contains(logs.String(), want) {
		t.Fatalf("log does not name the caller (%s):\n%s", want, logs.String())
	}
}

// TestAdmission: a caller that is not root and not in the banger group is
// refused with 403 and told how to get access; a member sees only its own
// VMs and may not shut the daemon down; a request whose caller is unknown
// is refused.
func TestAdmission(t *testing.T) {
	d := newTestDaemon(t)
	d.create(t, api.CreateVM{Name: "roots", NoStart: true})
	d.h.Access = &access.Policy{DaemonUID: 0, Groups: groupsOf{1001: true}}
	routes := d.h.Routes()
	as := func(p *peer, method, path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		if p != nil {
			req = req.WithContext(context.WithValue(req.Context(), peerKey{}, *p))
		}
		rec := httptest.NewRecorder()
		routes.ServeHTTP(rec, req)
		return rec
	}
	member := &peer{caller: access.Caller{UID: 1001, GID: 1001, PID: 5}}
	stranger := &peer{caller: access.Caller{UID: 1002, GID: 1002, PID: 6}}
	failed := &peer{err: errors.New("no credentials")}
	for name, tt := range map[string]struct {
		p          *peer
		method     string
		path, want string
	}{
		"stranger lists":          {stranger, "GET", "/v1/vms", "usermod -aG banger"},
		"stranger pings":          {stranger, "GET", "/v1/ping", "not in the \"banger\" group"},
		"unknown caller":          {nil, "GET", "/v1/vms", "cannot tell who is calling"},
		"no credentials":          {failed, "GET", "/v1/vms", "no credentials"},
		"member shuts down":       {member, "POST", "/v1/shutdown", "only root"},
		"member deletes an image": {member, "DELETE", "/v1/images/test-image", "only root"},
	} {
		rec := as(tt.p, tt.method, tt.path)
		var e api.Error
		_ = json.Unmarshal(rec.Body.Bytes(), &e)
		if rec.Code != http.StatusForbidden || e.Kind != api.KindForbidden || !strings.Contains(e.Message, tt.want) {
			t.Errorf("%s: %d %+v; want 403 forbidden saying %q", name, rec.Code, e, tt.want)
		}
	}
	rec := as(member, "GET", "/v1/vms")
	var vms []api.VM
	if err := json.Unmarshal(rec.Body.Bytes(), &vms); rec.Code != 200 || err != nil || len(vms) != 0 {
		t.Fatalf("member lists %d %s; want none of root's VMs", rec.Code, rec.Body)
	}
	if rec := as(member, "GET", "/v1/vms/roots"); rec.Code != http.StatusNotFound {
		t.Fatalf("member gets root's VM: %d %s; want 404", rec.Code, rec.Body)
	}
	if rec := as(&peer{caller: access.Caller{UID: 0}}, "GET", "/v1/vms/roots"); rec.Code != 200 {
		t.Fatalf("root gets its VM: %d %s", rec.Code, rec.Body)
	}
}

type noGroup struct{}

func (noGroup) LookupGroup(string) (int, error) { return 0, errors.New("no such group") }
func (noGroup) Member(int, int) bool            { return false }

// TestRuntimeDirAndSocketModes: the daemon opens its socket to the banger
// group only when that group exists, and refuses a runtime directory that
// others could write or that is a symlink.
func TestRuntimeDirAndSocketModes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to a group")
	}
	check := func(p string, mode os.FileMode, gid int) {
		t.Helper()
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != mode || int(st.Sys().(*syscall.Stat_t).Gid) != gid {
			t.Errorf("%s: mode %04o gid %d, want %04o gid %d", p, st.Mode().Perm(), st.Sys().(*syscall.Stat_t).Gid, mode, gid)
		}
	}
	for _, tt := range []struct {
		name   string
		groups access.GroupDB
		dir    os.FileMode
		sock   os.FileMode
		gid    int
	}{
		{"with a banger group", groupsOf{}, 0o750, 0o660, 900},
		{"without", noGroup{}, 0o700, 0o600, os.Getegid()},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			if err := prepareRuntimeDir(dir, tt.groups); err != nil {
				t.Fatal(err)
			}
			check(dir, tt.dir, tt.gid)
			ln, err := listen(filepath.Join(dir, "bangerd.sock"), tt.groups)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			check(filepath.Join(dir, "bangerd.sock"), tt.sock, tt.gid)
		})
	}
	open := filepath.Join(t.TempDir(), "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(open, 0o777)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(t.TempDir(), link); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{open, link} {
		if err := prepareRuntimeDir(bad, groupsOf{}); !errors.Is(err, access.ErrUnsafe) {
			t.Errorf("prepareRuntimeDir(%s) = %v, want unsafe", bad, err)
		}
	}
	if st, _ := os.Stat(open); st.Mode().Perm() != 0o777 {
		t.Errorf("a refused directory was changed: %04o", st.Mode().Perm())
	}
}

// A ~/ path of [[file_sync]] keeps its part under the home, so a user's VM
// reads it under that user's home rather than root's.
func TestFileSyncKeepsHomeRelativePath(t *testing.T) {
	cfg := &config.Config{FileSync: []config.FileSync{{Host: "~/.gitconfig", Guest: "/root/.gitconfig"}, {Host: "/etc/motd", Guest: "/root/motd"}}}
	got := fileSync(cfg)
	if len(got) != 2 || got[0].HomeRel != ".gitconfig" || !filepath.IsAbs(got[0].Host) || got[1].HomeRel != "" || got[1].Host != "/etc/motd" {
		t.Fatalf("fileSync = %+v", got)
	}
}
