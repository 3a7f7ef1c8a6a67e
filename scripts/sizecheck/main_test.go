package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func write(t *testing.T, root, rel, src string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

// With limits of 12 lines a file and 4 a function.
func TestCheck(t *testing.T) {
	root := t.TempDir()
	long := "package p\n" + strings.Repeat("// filler\n", 12) // 13 lines
	write(t, root, "long.go", long)
	write(t, root, "edge.go", "package p\n\nfunc four() {\n\t_ = 1\n\t_ = 2\n}\n"+strings.Repeat("//\n", 6)) // 12 lines, a 4-line func
	write(t, root, "funcs/f.go", `package funcs

func five() {
	_ = 1
	_ = 2
	_ = 3
}

func outer() {
	f := func() {
		_ = 1
		_ = 2
		_ = 3
	}
	f()
}
`)
	write(t, root, "long_test.go", long)
	write(t, root, "testdata/long.go", long)
	write(t, root, ".hidden/long.go", long)
	write(t, root, "notes.txt", long)

	offs, err := check(root, limits{file: 12, fn: 4})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range offs {
		got = append(got, o.String())
	}
	want := []string{
		"funcs/f.go: 16 lines (limit 12)",
		"funcs/f.go:3: func five is 5 lines (limit 4)",
		"funcs/f.go:9: func outer is 8 lines (limit 4)",
		"funcs/f.go:10: func literal is 5 lines (limit 4)",
		"long.go: 13 lines (limit 12)",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("offences:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRunExitCodes(t *testing.T) {
	root := t.TempDir()
	write(t, root, "ok.go", "package p\n\nfunc f() {}\n")
	var out strings.Builder
	if code := run(&out, root, limits{file: 500, fn: 80}); code != 0 || out.Len() != 0 {
		t.Errorf("clean tree: exit %d, output %q", code, out.String())
	}
	if code := run(&out, root, limits{file: 2, fn: 80}); code != 1 || !strings.Contains(out.String(), "ok.go: 3 lines (limit 2)") {
		t.Errorf("tree over the limit: exit %d, output %q", code, out.String())
	}
	write(t, root, "bad.go", "package p\nfunc {\n")
	out.Reset()
	if code := run(&out, root, limits{file: 500, fn: 80}); code != 2 || !strings.Contains(out.String(), "parse bad.go") {
		t.Errorf("unparsable file: exit %d, output %q", code, out.String())
	}
}

func TestCountLines(t *testing.T) {
	for src, want := range map[string]int{"": 0, "a": 1, "a\n": 1, "a\nb": 2, "a\nb\n": 2, "\n\n": 2} {
		if got := countLines([]byte(src)); got != want {
			t.Errorf("countLines(%q) = %d, want %d", src, got, want)
		}
	}
}
