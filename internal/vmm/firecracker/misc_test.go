package firecracker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fakeVsock serves Firecracker's host side of vsock: it reads
// "CONNECT <port>\n" and answers with answer(port), then echoes.
func fakeVsock(t *testing.T, answer func(port string) string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "v.sock")
	l, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				line, _ := r.ReadString('\n')
				port, ok := strings.CutPrefix(strings.TrimSpace(line), "CONNECT ")
				if !ok {
					return
				}
				a := answer(port)
				if a == "" {
					return // refuse: close without answering
				}
				c.Write([]byte(a))
				b, _ := r.ReadString('\n')
				c.Write([]byte("echo " + b))
			}()
		}
	}()
	return p
}

func TestDialVsock(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// The guest's first bytes arrive right behind OK and must not be lost.
	sock := fakeVsock(t, func(port string) string { return "OK 1073741824\n" })
	c, err := DialVsock(ctx, sock, AgentPort)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "hello\n")
	got, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	if got != "echo hello\n" {
		t.Fatalf("after the handshake read %q", got)
	}

	sawPort := make(chan string, 1)
	refused := fakeVsock(t, func(port string) string { sawPort <- port; return "" })
	if _, err := DialVsock(ctx, refused, 52); err == nil || !strings.Contains(err.Error(), "read answer") {
		t.Fatalf("refused connection: err = %v", err)
	}
	if p := <-sawPort; p != "52" {
		t.Fatalf("server saw CONNECT %q, want 52", p)
	}
	bad := fakeVsock(t, func(string) string { return "NOPE\n" })
	if _, err := DialVsock(ctx, bad, 52); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("bad answer: err = %v", err)
	}
	if _, err := DialVsock(ctx, filepath.Join(t.TempDir(), "missing"), 52); err == nil {
		t.Fatal("dialing a missing socket succeeded")
	}
}

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

// sparseImage writes a 20 MiB file with data only at 0 and 10 MiB.
func sparseImage(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	p := filepath.Join(dir, "image.raw")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	must(t, f.Truncate(20<<20))
	a, b := bytes.Repeat([]byte("A"), 8192), bytes.Repeat([]byte("B"), 8192)
	_, err = f.WriteAt(a, 0)
	must(t, err)
	_, err = f.WriteAt(b, 10<<20)
	must(t, err)
	want := make([]byte, 20<<20)
	copy(want, a)
	copy(want[10<<20:], b)
	return p, want
}

func TestPrepareRootDiskSparse(t *testing.T) {
	dir := t.TempDir()
	img, want := sparseImage(t, dir)
	noClone := diskPrep{lookPath: func(string) (string, error) { return "", errors.New("no") }, devRoot: dir,
		clone: func(dst, src *os.File) error { return unix.EOPNOTSUPP }}
	dst := filepath.Join(dir, "root.raw")
	m, err := noClone.prepare(context.Background(), img, dst)
	if err != nil || m != MethodSparseCopy {
		t.Fatalf("prepare = %q, %v", m, err)
	}
	got, _ := os.ReadFile(dst)
	if !bytes.Equal(got, want) {
		t.Fatal("copy differs from the image")
	}
	var st syscall.Stat_t
	must(t, syscall.Stat(dst, &st))
	if st.Blocks*512 >= 20<<20 {
		t.Errorf("copy allocates %d bytes of a 20 MiB sparse image: holes were filled", st.Blocks*512)
	}
	// dst exists: refused, and the existing file is untouched.
	if _, err := noClone.prepare(context.Background(), img, dst); err == nil {
		t.Fatal("prepare over an existing file succeeded")
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, want) {
		t.Fatal("existing dst was changed")
	}
	// A missing image leaves nothing.
	if _, err := noClone.prepare(context.Background(), filepath.Join(dir, "missing"), filepath.Join(dir, "x.raw")); err == nil {
		t.Fatal("prepare from a missing image succeeded")
	}
	// A cancelled copy leaves nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := noClone.prepare(ctx, img, filepath.Join(dir, "y.raw")); err == nil {
		t.Fatal("cancelled prepare succeeded")
	}
	for _, n := range []string{"x.raw", "y.raw"} {
		if _, err := os.Stat(filepath.Join(dir, n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind", n)
		}
	}
}

// The real host path: whichever method this filesystem allows must give an
// identical disk and agree with the probe.
func TestPrepareRootDiskHost(t *testing.T) {
	dir := t.TempDir()
	img, want := sparseImage(t, dir)
	m, err := PrepareRootDisk(context.Background(), img, filepath.Join(dir, "root.raw"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "root.raw"))
	if !bytes.Equal(got, want) {
		t.Fatal("copy differs from the image")
	}
	probe := ProbeRootDiskMethod(dir)
	if !strings.HasPrefix(probe, m+" ") && !(strings.HasPrefix(probe, MethodDMSnapshot+" ") && strings.Contains(probe, "use "+m+")")) {
		t.Fatalf("PrepareRootDisk used %s, probe says %q", m, probe)
	}
	t.Logf("method %s; probe: %s", m, probe)
}

func TestDMProbe(t *testing.T) {
	dir := t.TempDir()
	p := diskPrep{lookPath: func(string) (string, error) { return "/usr/sbin/dmsetup", nil }, devRoot: dir}
	if ok, why := p.dmUsable(); ok || !strings.Contains(why, "mapper/control") {
		t.Fatalf("dmUsable without control = %v, %q", ok, why)
	}
	must(t, os.MkdirAll(filepath.Join(dir, "mapper"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "mapper", "control"), nil, 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "loop-control"), nil, 0o600))
	if ok, why := p.dmUsable(); !ok {
		t.Fatalf("dmUsable with control = %v, %q", ok, why)
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
