package firecracker

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// fakeVsock serves Firecracker's host side of vsock: it reads
// "CONNECT <port>\n" and answers with answer(port), then echoes.
func TestVersion(t *testing.T) {
	exe, _ := fakeEnv(t, "")
	v, err := Version(context.Background(), exe)
	if err != nil || v != "1.16.1" {
		t.Fatalf("Version = %q, %v", v, err)
	}
	if err := New(Options{Binary: exe}).Preflight(context.Background()); err != nil {
		t.Fatalf("Preflight: %v", err)
	}
	old := New(Options{Run: func(context.Context, []string) ([]byte, error) { return []byte("Firecracker v1.7.0\n"), nil }})
	if err := old.Preflight(context.Background()); err == nil || !strings.Contains(err.Error(), "older than") {
		t.Fatalf("Preflight of 1.7.0: %v", err)
	}
	if _, err := Version(context.Background(), filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Fatal("Version of a missing binary succeeded")
	}
}

func TestCheckVersion(t *testing.T) {
	tests := []struct {
		v    string
		want bool
	}{
		{"1.14.0", true}, {"v1.16.1", true}, {"1.17.0-dev", true}, {"1.13.9", false},
		{"1.7.0", false}, {"2.0.0", false}, {"garbage", false},
	}
	for _, tt := range tests {
		ok, msg := CheckVersion(tt.v)
		if ok != tt.want || msg == "" {
			t.Errorf("CheckVersion(%q) = %v, %q; want %v", tt.v, ok, msg, tt.want)
		}
	}
}

func TestSameFilesystem(t *testing.T) {
	dir := t.TempDir()
	if ok, err := SameFilesystem(dir, filepath.Join(dir, "not", "yet")); err != nil || !ok {
		t.Fatalf("same dir: %v, %v", ok, err)
	}
	if ok, err := SameFilesystem(dir, "/proc/self"); err != nil || ok {
		t.Fatalf("tempdir vs /proc: %v, %v", ok, err)
	}
}
