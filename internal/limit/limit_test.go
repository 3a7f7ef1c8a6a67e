package limit_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"

	"banger/internal/limit"
)

func TestReadLine(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
		want     []string // lines, then "ERR" for a limit error or "EOF"
	}{
		{"short lines", "a\nbb\n", 4, []string{"a", "bb", "EOF"}},
		{"exactly max", "abcd\n", 4, []string{"abcd", "EOF"}},
		{"one over", "abcde\n", 4, []string{"ERR"}},
		{"no newline, long", strings.Repeat("x", 100), 10, []string{"ERR"}},
		{"long across buffer fills", strings.Repeat("y", 40) + "\n", 40, []string{strings.Repeat("y", 40), "EOF"}},
		{"longer across buffer fills", strings.Repeat("y", 41) + "\n", 40, []string{"ERR"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReaderSize(strings.NewReader(tc.in), 16)
			var got []string
			for {
				line, err := limit.ReadLine(r, tc.max, "test line")
				if errors.Is(err, limit.ErrExceeded) {
					got = append(got, "ERR")
					break
				}
				if err == io.EOF {
					got = append(got, "EOF")
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, string(line))
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// endless is a reader that never ends; it counts what was read from it.
type endless struct{ n int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	e.n += int64(len(p))
	return len(p), nil
}

func TestReadLineStopsAnEndlessLine(t *testing.T) {
	src := &endless{}
	_, err := limit.ReadLine(bufio.NewReader(src), 1<<20, "agent line")
	var le *limit.Error
	if !errors.As(err, &le) || le.Limit != 1<<20 || err.Error() != "agent line exceeds the limit of 1 MiB" {
		t.Fatalf("err = %v", err)
	}
	if src.n > 1<<20+4096 {
		t.Errorf("read %d bytes of an endless line, want at most the limit and one buffer", src.n)
	}
}

func TestReader(t *testing.T) {
	b, err := io.ReadAll(limit.Reader(strings.NewReader("0123456789"), 10, "sync"))
	if err != nil || string(b) != "0123456789" {
		t.Fatalf("at the limit: %q, %v", b, err)
	}
	src := &endless{}
	n, err := io.Copy(io.Discard, limit.Reader(src, 1000, "file_sync entry"))
	if !errors.Is(err, limit.ErrExceeded) || n != 1000 {
		t.Fatalf("endless: copied %d, %v", n, err)
	}
}

func TestConn(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		_, _ = b.Write(bytes.Repeat([]byte("z"), 300))
		_, _ = b.Write([]byte("after lift"))
		b.Close()
	}()
	c := limit.NewConn(a, 100, "SSH handshake")
	n, err := io.Copy(io.Discard, io.LimitReader(c, 1000))
	if !errors.Is(err, limit.ErrExceeded) || n != 100 {
		t.Fatalf("read %d, %v; want 100 and the limit error", n, err)
	}
	c.Lift()
	rest, err := io.ReadAll(c)
	if err != nil || !strings.HasSuffix(string(rest), "after lift") {
		t.Fatalf("after Lift: %q, %v", rest, err)
	}
}

func TestBuffer(t *testing.T) {
	calls := 0
	b := limit.NewBuffer(8, "command output", func() { calls++ })
	if _, err := b.Write([]byte("12345")); err != nil {
		t.Fatal(err)
	}
	n, err := b.Write([]byte("6789"))
	if n != 3 || !errors.Is(err, limit.ErrExceeded) || b.Err() == nil {
		t.Fatalf("Write past the limit = %d, %v", n, err)
	}
	if _, err := b.Write([]byte("x")); err == nil {
		t.Fatal("a write after the limit succeeded")
	}
	if string(b.Bytes()) != "12345678" || calls != 1 {
		t.Fatalf("kept %q, exceeded called %d times", b.Bytes(), calls)
	}
}

func TestTailKeepsTheEnd(t *testing.T) {
	tl := &limit.Tail{Max: 4}
	for _, s := range []string{"ab", "cdef", "g"} {
		if n, err := tl.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if tl.String() != "defg" {
		t.Errorf("tail %q, want defg", tl.String())
	}
}
