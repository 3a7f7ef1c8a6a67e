package access

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another uid")
	}
}

const stranger = 54321 // a uid that is neither root nor the test's

func TestCheckDir(t *testing.T) {
	trusted := Trusted(os.Geteuid())
	tests := []struct {
		name   string
		root   bool // needs root (chown)
		setup  func(t *testing.T, base string) string
		unsafe bool
	}{
		{"private dir", false, func(t *testing.T, base string) string { return mkdir(t, base, "run", 0o700) }, false},
		{"group-readable dir", false, func(t *testing.T, base string) string { return mkdir(t, base, "run", 0o750) }, false},
		{"symlink to a private dir", false, func(t *testing.T, base string) string {
			d := mkdir(t, base, "real", 0o700)
			link := filepath.Join(base, "run")
			must(t, os.Symlink(d, link))
			return link
		}, true},
		{"world-writable dir", false, func(t *testing.T, base string) string { return mkdir(t, base, "run", 0o777) }, true},
		{"world-writable sticky dir", false, func(t *testing.T, base string) string {
			d := mkdir(t, base, "run", 0o777)
			must(t, os.Chmod(d, 0o777|os.ModeSticky))
			return d
		}, true},
		{"group-writable dir", false, func(t *testing.T, base string) string { return mkdir(t, base, "run", 0o770) }, true},
		{"a regular file", false, func(t *testing.T, base string) string {
			p := filepath.Join(base, "run")
			must(t, os.WriteFile(p, nil, 0o600))
			return p
		}, true},
		{"dir of another user", true, func(t *testing.T, base string) string {
			d := mkdir(t, base, "run", 0o700)
			must(t, os.Chown(d, stranger, stranger))
			return d
		}, true},
		{"private dir in a world-writable parent", false, func(t *testing.T, base string) string {
			p := mkdir(t, base, "open", 0o777)
			return mkdir(t, p, "run", 0o700)
		}, true},
		{"private dir in a sticky world-writable parent (/tmp)", false, func(t *testing.T, base string) string {
			p := mkdir(t, base, "tmp", 0o777)
			must(t, os.Chmod(p, 0o777|os.ModeSticky))
			return mkdir(t, p, "run", 0o700)
		}, false},
		{"private dir in a parent of another user", true, func(t *testing.T, base string) string {
			p := mkdir(t, base, "theirs", 0o755)
			d := mkdir(t, p, "run", 0o700)
			must(t, os.Chown(p, stranger, stranger))
			return d
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				needRoot(t)
			}
			dir := tt.setup(t, t.TempDir())
			err := CheckDir(dir, trusted)
			if tt.unsafe != errors.Is(err, ErrUnsafe) {
				t.Fatalf("CheckDir(%s) = %v, want unsafe=%v", tt.name, err, tt.unsafe)
			}
			if err != nil && !tt.unsafe {
				t.Fatalf("CheckDir = %v", err)
			}
		})
	}
}

func TestCheckSocket(t *testing.T) {
	trusted := Trusted(os.Geteuid())
	tests := []struct {
		name   string
		root   bool
		setup  func(t *testing.T, dir string) string
		unsafe bool
	}{
		{"0600 socket", false, func(t *testing.T, dir string) string { return sock(t, dir, 0o600) }, false},
		{"0660 socket", false, func(t *testing.T, dir string) string { return sock(t, dir, 0o660) }, false},
		{"0666 socket", false, func(t *testing.T, dir string) string { return sock(t, dir, 0o666) }, true},
		{"symlink to a socket", false, func(t *testing.T, dir string) string {
			s := sock(t, dir, 0o600)
			link := filepath.Join(dir, "link.sock")
			must(t, os.Symlink(s, link))
			return link
		}, true},
		{"regular file", false, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "bangerd.sock")
			must(t, os.WriteFile(p, nil, 0o600))
			return p
		}, true},
		{"socket of another user", true, func(t *testing.T, dir string) string {
			s := sock(t, dir, 0o600)
			must(t, os.Lchown(s, stranger, stranger))
			return s
		}, true},
		{"good socket in a world-writable dir", false, func(t *testing.T, dir string) string {
			must(t, os.Chmod(dir, 0o777))
			return sock(t, dir, 0o600)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.root {
				needRoot(t)
			}
			dir := mkdir(t, t.TempDir(), "run", 0o700)
			p := tt.setup(t, dir)
			err := CheckSocket(p, trusted)
			if tt.unsafe != errors.Is(err, ErrUnsafe) || (err != nil && !tt.unsafe) {
				t.Fatalf("CheckSocket(%s) = %v, want unsafe=%v", tt.name, err, tt.unsafe)
			}
		})
	}
}

func mkdir(t *testing.T, parent, name string, mode os.FileMode) string {
	t.Helper()
	d := filepath.Join(parent, name)
	must(t, os.Mkdir(d, mode))
	must(t, os.Chmod(d, mode)) // past the umask
	return d
}

func sock(t *testing.T, dir string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, "bangerd.sock")
	ln, err := net.Listen("unix", p)
	must(t, err)
	t.Cleanup(func() { ln.Close() })
	must(t, os.Chmod(p, mode))
	return p
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
