package cli

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/api"
)

// TestCLIRefusesUnsafeSocket: the CLI talks to no daemon whose socket, or
// the directory holding it, someone else could have made or could replace,
// and it says what is wrong and how to fix it.
func TestCLIRefusesUnsafeSocket(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, f *fakeDaemon)
		want   string // in the error
	}{
		{"socket open to everyone", func(t *testing.T, f *fakeDaemon) {
			chmod(t, filepath.Join(f.dir, "bangerd.sock"), 0o666)
		}, "chmod o-rwx"},
		{"world-writable directory", func(t *testing.T, f *fakeDaemon) { chmod(t, f.dir, 0o777) }, "chmod go-w"},
		{"directory is a symlink", func(t *testing.T, f *fakeDaemon) {
			link := filepath.Join(t.TempDir(), "run")
			if err := os.Symlink(f.dir, link); err != nil {
				t.Fatal(err)
			}
			f.dir = link
		}, "is a symlink"},
		{"socket is a symlink", func(t *testing.T, f *fakeDaemon) {
			real := filepath.Join(f.dir, "real.sock")
			sock := filepath.Join(f.dir, "bangerd.sock")
			if err := os.Rename(sock, real); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(real, sock); err != nil {
				t.Fatal(err)
			}
		}, "is a symlink"},
		{"socket of another user", func(t *testing.T, f *fakeDaemon) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give the socket to another uid")
			}
			if err := os.Lchown(filepath.Join(f.dir, "bangerd.sock"), 54321, 54321); err != nil {
				t.Fatal(err)
			}
		}, "owned by uid 54321"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeDaemon(t)
			f.mux.HandleFunc("GET /v1/vms", func(w http.ResponseWriter, _ *http.Request) { writeFakeJSON(w, http.StatusOK, []api.VM{}) })
			if r := f.cli("vm", "list"); r.code != 0 {
				t.Fatalf("before: vm list = %d: %s", r.code, r.stderr)
			}
			f.requests = nil
			tt.break_(t, f)
			r := f.cli("vm", "list")
			if r.code == 0 || !strings.Contains(r.stderr, "refusing to talk to bangerd") || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("vm list = %d, stderr %q; want a refusal saying %q", r.code, r.stderr, tt.want)
			}
			if len(f.requests) != 0 {
				t.Fatalf("the CLI sent %d requests to an unsafe socket", len(f.requests))
			}
		})
	}
}

// TestCLIAcceptsMissingSocket: no socket yet is not an error of its own;
// the CLI goes on to start the daemon.
func TestCLIAcceptsMissingSocket(t *testing.T) {
	f := newFakeDaemon(t)
	f.dir = filepath.Join(t.TempDir(), "absent")
	r := f.cli("vm", "list")
	if !strings.Contains(r.stderr, "tried to start a daemon") {
		t.Fatalf("vm list = %d, %q; want an attempt to start the daemon", r.code, r.stderr)
	}
}

func chmod(t *testing.T, p string, m os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, m); err != nil {
		t.Fatal(err)
	}
}
