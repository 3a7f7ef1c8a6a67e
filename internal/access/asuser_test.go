package access

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// nobody is a real user without rights, as whom files are read.
func nobody(t *testing.T) User {
	t.Helper()
	needRoot(t)
	u, err := LookupUser(65534)
	if err != nil {
		t.Skipf("no uid 65534 (nobody) on this host: %v", err)
	}
	return u
}

func TestCheckReadAsUser(t *testing.T) {
	u := nobody(t)
	open := openDir(t)
	private := mkdir(t, open, "private", 0o700)
	write := func(p string, mode os.FileMode) string {
		must(t, os.WriteFile(p, []byte("secret"), mode))
		must(t, os.Chmod(p, mode))
		return p
	}
	secret := write(filepath.Join(open, "secret"), 0o600)
	public := write(filepath.Join(open, "public"), 0o644)
	hidden := write(filepath.Join(private, "public-but-hidden"), 0o644)
	link := filepath.Join(open, "link-to-secret")
	must(t, os.Symlink(secret, link))
	fifo := filepath.Join(open, "fifo")
	must(t, syscall.Mkfifo(fifo, 0o666))
	must(t, os.Chmod(fifo, 0o666))
	tests := []struct {
		path string
		ok   bool
	}{
		{public, true},
		{open, true},
		{secret, false},
		{hidden, false},
		{private, false},
		{link, false},
		{fifo, false},
		{filepath.Join(open, "absent"), false},
	}
	for _, tt := range tests {
		_, _, err := u.CheckRead(context.Background(), tt.path)
		if tt.ok && err != nil {
			t.Errorf("CheckRead(%s) = %v, want nil", tt.path, err)
		}
		if !tt.ok && !errors.Is(err, ErrRefused) {
			t.Errorf("CheckRead(%s) = %v, want a refusal", tt.path, err)
		}
	}
	// Only non-admin callers are checked.
	ctx := context.Background()
	if err := CheckReadable(ctx, secret); err != nil {
		t.Errorf("the daemon's own read of %s refused: %v", secret, err)
	}
	if err := CheckReadable(WithCaller(ctx, Caller{UID: 0, Admin: true}), secret); err != nil {
		t.Errorf("root's read of %s refused: %v", secret, err)
	}
	as := WithCaller(ctx, Caller{UID: u.UID, GID: u.GID})
	if err := CheckReadable(as, public, "", secret); !errors.Is(err, ErrRefused) {
		t.Errorf("nobody's read of %s = %v, want a refusal", secret, err)
	}
	if err := CheckReadable(as, public, ""); err != nil {
		t.Errorf("nobody's read of %s = %v", public, err)
	}
}
