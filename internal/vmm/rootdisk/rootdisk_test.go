package rootdisk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
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
	noClone := Host{LookPath: func(string) (string, error) { return "", errors.New("no") }, DevRoot: dir,
		Clone: func(dst, src *os.File) error { return unix.EOPNOTSUPP }}
	dst := filepath.Join(dir, "root.raw")
	m, err := noClone.Copy(context.Background(), img, dst)
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
	if _, err := noClone.Copy(context.Background(), img, dst); err == nil {
		t.Fatal("prepare over an existing file succeeded")
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, want) {
		t.Fatal("existing dst was changed")
	}
	// A missing image leaves nothing.
	if _, err := noClone.Copy(context.Background(), filepath.Join(dir, "missing"), filepath.Join(dir, "x.raw")); err == nil {
		t.Fatal("prepare from a missing image succeeded")
	}
	// A cancelled copy leaves nothing.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := noClone.Copy(ctx, img, filepath.Join(dir, "y.raw")); err == nil {
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
	m, err := RealHost().Copy(context.Background(), img, filepath.Join(dir, "root.raw"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "root.raw"))
	if !bytes.Equal(got, want) {
		t.Fatal("copy differs from the image")
	}
	probe := RealHost().Probe(dir)
	if !strings.HasPrefix(probe, m+" ") && !(strings.HasPrefix(probe, MethodDMSnapshot+" ") && strings.Contains(probe, "use "+m+")")) {
		t.Fatalf("PrepareRootDisk used %s, probe says %q", m, probe)
	}
	t.Logf("method %s; probe: %s", m, probe)
}

func TestDMProbe(t *testing.T) {
	dir := t.TempDir()
	p := Host{LookPath: func(string) (string, error) { return "/usr/sbin/dmsetup", nil }, DevRoot: dir}
	if ok, why := p.DMUsable(); ok || !strings.Contains(why, "mapper/control") {
		t.Fatalf("dmUsable without control = %v, %q", ok, why)
	}
	must(t, os.MkdirAll(filepath.Join(dir, "mapper"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "mapper", "control"), nil, 0o600))
	must(t, os.WriteFile(filepath.Join(dir, "loop-control"), nil, 0o600))
	if ok, why := p.DMUsable(); !ok {
		t.Fatalf("dmUsable with control = %v, %q", ok, why)
	}
}

func TestSnapshotMarkerJSON(t *testing.T) {
	// The marker's field names are an on-disk format; keep them stable.
	b, _ := json.Marshal(snapshotMarker{MethodDMSnapshot, "root.origin", "root.cow", 8, 8})
	if string(b) != `{"method":"dm-snapshot","origin":"root.origin","cow":"root.cow","sectors":8,"chunk_sectors":8}` {
		t.Errorf("marker JSON = %s", b)
	}
}
