package logcap_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/logcap"
)

func sizes(t *testing.T, path string, keep int) (total int64, files int) {
	t.Helper()
	for i := 0; i <= keep+1; i++ {
		p := path
		if i > 0 {
			p = logcap.Generation(path, i)
		}
		st, err := os.Stat(p)
		if err != nil {
			continue
		}
		total += st.Size()
		files++
	}
	return total, files
}

// TestWriterCapsAFlood writes 64 MiB of zeros, as a guest writing
// /dev/zero to its serial port does, through a 1 MiB log with one rotated
// generation: the log never takes more than 2 MiB.
func TestWriterCapsAFlood(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	w, err := logcap.Create(path, logcap.Options{Max: 1 << 20, Keep: 1, Offsets: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	chunk := make([]byte, 4096)
	var peak int64
	for written := 0; written < 64<<20; written += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
		if written%(1<<20) == 0 {
			total, _ := sizes(t, path, 1)
			peak = max(peak, total)
		}
	}
	total, files := sizes(t, path, 1)
	t.Logf("64 MiB written; the log holds %d bytes in %d files (peak seen %d)", total, files, peak)
	if total > 2<<20 || peak > 2<<20 || files != 2 {
		t.Fatalf("the log holds %d bytes in %d files (peak %d); want at most 2 MiB in 2", total, files, peak)
	}
	if _, err := os.Stat(logcap.Generation(path, 2)); err == nil {
		t.Fatal("a second rotated generation was kept")
	}
}

func TestWriterKeepsGenerations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bangerd.log")
	w, err := logcap.Create(path, logcap.Options{Max: 100, Keep: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		fmt.Fprintf(w, "line %02d of the log..\n", i) // 21 bytes
	}
	w.Close()
	cur, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(cur), "line 49 of the log..\n") || len(cur) > 100 {
		t.Fatalf("current file %q", cur)
	}
	for i := 1; i <= 3; i++ {
		b, err := os.ReadFile(logcap.Generation(path, i))
		if err != nil || len(b) != 84 {
			t.Fatalf("generation %d: %d bytes, %v", i, len(b), err)
		}
	}
	if _, err := os.Stat(logcap.Generation(path, 4)); err == nil {
		t.Fatal("a fourth generation was kept")
	}
	if _, err := os.Stat(path + ".start"); err == nil {
		t.Fatal("offsets recorded without Offsets")
	}
	// Reopening appends to the current file.
	w, _ = logcap.Create(path, logcap.Options{Max: 100, Keep: 3})
	w.Write([]byte("again\n"))
	w.Close()
	if b, _ := os.ReadFile(path); !bytes.HasSuffix(b, []byte("line 49 of the log..\nagain\n")) {
		t.Fatalf("after reopening: %q", b)
	}
}

func TestWriterHugeWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	w, _ := logcap.Create(path, logcap.Options{Max: 10, Keep: 1})
	n, err := w.Write([]byte("0123456789abcdef"))
	if err != nil || n != 16 {
		t.Fatalf("Write = %d, %v", n, err)
	}
	w.Close()
	if b, _ := os.ReadFile(path); string(b) != "6789abcdef" {
		t.Fatalf("kept %q, want the last 10 bytes", b)
	}
}

func TestWriterRefusesANonRegularFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := logcap.Create(dir, logcap.Options{Max: 10, Keep: 1}); err == nil {
		t.Fatal("Create on a directory succeeded")
	}
	if _, err := logcap.Create("/dev/null", logcap.Options{Max: 10, Keep: 1}); err == nil {
		t.Fatal("Create on a device succeeded")
	}
}

// TestOpenFollowsAcrossRotations reads the log as `vm logs -f` does,
// adding what it read to its offset, while the writer rotates many
// times: every byte is read once, in order, as long as the reader keeps
// up with the cap.
func TestOpenFollowsAcrossRotations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	w, _ := logcap.Create(path, logcap.Options{Max: 64, Keep: 1, Offsets: true})
	defer w.Close()
	var want, got bytes.Buffer
	var offset int64
	for i := range 200 {
		line := fmt.Sprintf("boot message %03d\n", i)
		w.Write([]byte(line))
		want.WriteString(line)
		if i%3 == 0 {
			rc, err := logcap.Open(path, 1, offset)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := io.Copy(&got, rc)
			rc.Close()
			offset += n
		}
	}
	rc, _ := logcap.Open(path, 1, offset)
	n, _ := io.Copy(&got, rc)
	rc.Close()
	offset += n
	if got.String() != want.String() || offset != int64(want.Len()) {
		t.Fatalf("followed %d bytes (offset %d), want %d", got.Len(), offset, want.Len())
	}

	// From 0: what is kept, the last two generations in order.
	rc, _ = logcap.Open(path, 1, 0)
	all, _ := io.ReadAll(rc)
	rc.Close()
	if len(all) == 0 || len(all) > 128 || !strings.HasSuffix(want.String(), string(all)) {
		t.Fatalf("read from 0: %q", all)
	}
}

func TestOpenMissing(t *testing.T) {
	rc, err := logcap.Open(filepath.Join(t.TempDir(), "none"), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	if len(b) != 0 {
		t.Fatalf("read %q", b)
	}
}
