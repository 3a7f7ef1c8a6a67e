package access

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as a client run under another uid:
// with dialEnv set, it dials that socket, waits for the other side to
// close, and exits.
func TestMain(m *testing.M) {
	if p := os.Getenv(dialEnv); p != "" {
		c, err := net.Dial("unix", p)
		if err != nil {
			os.Exit(3)
		}
		_, _ = c.Read(make([]byte, 1))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const dialEnv = "BANGER_ACCESS_TEST_DIAL"

// accept listens on a fresh socket, runs dial, and returns the peer
// credentials of the connection it accepts.
func accept(t *testing.T, dial func(path string)) Caller {
	t.Helper()
	dir := openDir(t)
	p := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", p)
	must(t, err)
	defer ln.Close()
	must(t, os.Chmod(p, 0o666))
	go dial(p)
	must(t, ln.(*net.UnixListener).SetDeadline(time.Now().Add(20*time.Second)))
	c, err := ln.Accept()
	must(t, err)
	defer c.Close()
	got, err := PeerCred(c)
	must(t, err)
	return got
}

func TestPeerCredSameProcess(t *testing.T) {
	got := accept(t, func(p string) {
		if c, err := net.Dial("unix", p); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	})
	want := Caller{UID: os.Getuid(), GID: os.Getgid(), PID: os.Getpid()}
	if got != want {
		t.Fatalf("PeerCred = %+v, want %+v", got, want)
	}
}

func TestPeerCredOtherUser(t *testing.T) {
	needRoot(t)
	exe, err := os.Executable()
	must(t, err)
	// The test binary must be reachable by the stranger: copy it out of
	// a private build directory.
	bin := filepath.Join(openDir(t), "client")
	b, err := os.ReadFile(exe)
	must(t, err)
	must(t, os.WriteFile(bin, b, 0o755))
	var cmd *exec.Cmd
	got := accept(t, func(p string) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd = exec.CommandContext(ctx, bin)
		cmd.Env = []string{dialEnv + "=" + p}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: stranger, Gid: stranger + 1}}
		_ = cmd.Run()
	})
	if got.UID != stranger || got.GID != stranger+1 || got.PID <= 0 || got.PID == os.Getpid() {
		t.Fatalf("PeerCred = %+v, want uid %d gid %d and the client's pid", got, stranger, stranger+1)
	}
}

func TestPeerCredNotUnix(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := PeerCred(a); err == nil || !strings.Contains(err.Error(), "not a unix socket") {
		t.Fatalf("PeerCred(pipe) = %v, want an error", err)
	}
}

// openDir is a temporary directory that any user may enter.
func openDir(t *testing.T) string {
	dir := t.TempDir()
	must(t, os.Chmod(filepath.Dir(dir), 0o755))
	must(t, os.Chmod(dir, 0o755))
	return dir
}

type fakeGroups struct {
	gid     int // gid of the banger group; 0 means there is none
	members map[int]bool
}

func (f fakeGroups) LookupGroup(string) (int, error) {
	if f.gid == 0 {
		return 0, errors.New("no such group")
	}
	return f.gid, nil
}
func (f fakeGroups) Member(uid, gid int) bool { return gid == f.gid && f.members[uid] }

func TestPolicyAdmit(t *testing.T) {
	withGroup := fakeGroups{gid: 900, members: map[int]bool{1001: true}}
	tests := []struct {
		name   string
		groups fakeGroups
		c      Caller
		admit  bool
		admin  bool
	}{
		{"root", withGroup, Caller{UID: 0}, true, true},
		{"the daemon's own user", withGroup, Caller{UID: 500, GID: 500}, true, true},
		{"member of banger", withGroup, Caller{UID: 1001, GID: 1001}, true, false},
		{"banger as primary group", withGroup, Caller{UID: 1003, GID: 900}, true, false},
		{"not a member", withGroup, Caller{UID: 1002, GID: 1002}, false, false},
		{"no banger group", fakeGroups{}, Caller{UID: 1001, GID: 1001}, false, false},
		{"root without a banger group", fakeGroups{}, Caller{UID: 0}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Policy{DaemonUID: 500, Groups: tt.groups}.Admit(tt.c)
			if (err == nil) != tt.admit || got.Admin != tt.admin {
				t.Fatalf("Admit(%+v) = %+v, %v; want admitted=%v admin=%v", tt.c, got, err, tt.admit, tt.admin)
			}
			if err != nil && (!errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "usermod") && !strings.Contains(err.Error(), "groupadd")) {
				t.Fatalf("refusal %q does not say how to get access", err)
			}
		})
	}
}

func TestOwns(t *testing.T) {
	ctx := context.Background()
	if !Owns(ctx, 1001) {
		t.Error("the daemon's own work (no caller) must see everything")
	}
	bob := WithCaller(ctx, Caller{UID: 1001})
	if !Owns(bob, 1001) || Owns(bob, 1002) || Owns(bob, 0) {
		t.Error("a user must see only what it owns")
	}
	if !Owns(WithCaller(ctx, Caller{UID: 0, Admin: true}), 1001) {
		t.Error("an admin must see everything")
	}
	if Owner(bob) != 1001 || Owner(ctx) != 0 {
		t.Errorf("Owner = %d, %d; want 1001, 0", Owner(bob), Owner(ctx))
	}
}
