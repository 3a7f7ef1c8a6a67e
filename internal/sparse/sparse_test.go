package sparse

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

const mib = 1 << 20

// allocated is the space f takes on disk.
func allocated(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// holey writes a 20 MiB file with a hole between 1 and 10 MiB, 4 MiB of
// written zeros at 12 MiB, and data at 0, 10 MiB and its last byte.
func holey(t *testing.T, dir string) (string, []byte) {
	t.Helper()
	want := make([]byte, 20*mib)
	for i := range mib {
		want[i] = byte(i%251 + 1)
		want[10*mib+i] = byte(i%13 + 1)
	}
	want[len(want)-1] = 'z'
	p := filepath.Join(dir, "src")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, r := range [][2]int{{0, mib}, {10 * mib, 11 * mib}, {12 * mib, 16 * mib}, {len(want) - 1, len(want)}} {
		if _, err := f.WriteAt(want[r[0]:r[1]], int64(r[0])); err != nil {
			t.Fatal(err)
		}
	}
	return p, want
}

func TestCopyFileKeepsHolesAndContent(t *testing.T) {
	dir := t.TempDir()
	src, want := holey(t, dir)
	dst := filepath.Join(dir, "dst")
	var last, calls int64
	err := CopyFile(context.Background(), src, dst, func(done, total int64) {
		if total != int64(len(want)) || done < last || done > total {
			t.Errorf("progress %d/%d after %d", done, total, last)
		}
		last = done
		calls++
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("copy differs from the source")
	}
	// 2 MiB of data and one block at the end; the hole and the written
	// zeros must not be allocated.
	if a := allocated(t, dst); a > 3*mib {
		t.Errorf("copy allocates %d bytes, want about 2 MiB: holes were filled", a)
	}
	if last != int64(len(want)) || calls == 0 {
		t.Errorf("progress ended at %d after %d calls, want %d", last, calls, len(want))
	}
	if err := CopyFile(context.Background(), src, dst, nil); !errors.Is(err, os.ErrExist) {
		t.Errorf("copy over an existing file: %v, want ErrExist", err)
	}
	if err := CopyFile(context.Background(), dir, filepath.Join(dir, "d2"), nil); !errors.Is(err, ErrNotRegular) {
		t.Errorf("copy of a directory: %v, want ErrNotRegular", err)
	}
}

func TestCopyEmptyAndCancelled(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	called := false
	if err := CopyFile(context.Background(), empty, filepath.Join(dir, "e2"), func(int64, int64) { called = true }); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(dir, "e2")); err != nil || fi.Size() != 0 || called {
		t.Errorf("empty copy: %v, %v, progress called %v", fi, err, called)
	}
	src, _ := holey(t, dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := CopyFile(ctx, src, filepath.Join(dir, "c"), nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled copy: %v", err)
	}
}

func TestWriteMakesZeroBlocksHoles(t *testing.T) {
	dir := t.TempDir()
	want := make([]byte, 8*mib+100) // trailing zeros: the size must still be right
	copy(want[3*mib:], "data in the middle")
	f, err := os.Create(filepath.Join(dir, "w"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := Write(f, bytes.NewReader(want))
	if err != nil || n != int64(len(want)) {
		t.Fatalf("Write = %d, %v; want %d", n, err, len(want))
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("written file differs")
	}
	if a := allocated(t, f.Name()); a > 1*mib {
		t.Errorf("Write allocates %d bytes for 64 KiB of data", a)
	}
}
