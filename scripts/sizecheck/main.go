// Command sizecheck fails when a non-test Go file is longer than -file lines
// or a function (a declaration or a func literal, from its func keyword to
// its closing brace) is longer than -func lines. `make lint` runs it over the
// module; it is not part of any banger binary.
//
//	go run ./scripts/sizecheck [-file 500] [-func 80] [DIR]
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// limits are the largest sizes allowed, in lines.
type limits struct {
	file, fn int
}

// offence is one file or function over its limit.
type offence struct {
	path  string // relative to the checked directory
	line  int    // of the func keyword; 0 for a whole file
	what  string // "file", "func NAME" or "func literal"
	lines int
	limit int
}

func (o offence) String() string {
	if o.line == 0 {
		return fmt.Sprintf("%s: %d lines (limit %d)", o.path, o.lines, o.limit)
	}
	return fmt.Sprintf("%s:%d: %s is %d lines (limit %d)", o.path, o.line, o.what, o.lines, o.limit)
}

func main() {
	var lim limits
	flag.IntVar(&lim.file, "file", 500, "most lines a non-test Go file may have")
	flag.IntVar(&lim.fn, "func", 80, "most lines a function may have")
	flag.Parse()
	root := "."
	if flag.NArg() > 0 {
		root = flag.Arg(0)
	}
	os.Exit(run(os.Stdout, root, lim))
}

// run checks root, prints the offences to w and returns the exit code.
func run(w io.Writer, root string, lim limits) int {
	offs, err := check(root, lim)
	if err != nil {
		fmt.Fprintln(w, "sizecheck:", err)
		return 2
	}
	if len(offs) == 0 {
		return 0
	}
	fmt.Fprintf(w, "sizecheck: %d over the limits (files %d lines, functions %d lines):\n", len(offs), lim.file, lim.fn)
	for _, o := range offs {
		fmt.Fprintln(w, "  "+o.String())
	}
	return 1
}

// check walks root and returns every offence, sorted by path and line.
// Test files, testdata, vendor and hidden directories are left out.
func check(root string, lim limits) ([]offence, error) {
	var offs []offence
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		found, err := checkFile(p, rel, lim)
		offs = append(offs, found...)
		return err
	})
	sort.Slice(offs, func(i, j int) bool {
		if offs[i].path != offs[j].path {
			return offs[i].path < offs[j].path
		}
		return offs[i].line < offs[j].line
	})
	return offs, err
}

// checkFile returns the offences of one Go file; rel names it in them.
func checkFile(path, rel string, lim limits) ([]offence, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var offs []offence
	if n := countLines(src); n > lim.file {
		offs = append(offs, offence{path: rel, what: "file", lines: n, limit: lim.file})
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", rel, err)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		var body *ast.BlockStmt
		var what string
		switch x := n.(type) {
		case *ast.FuncDecl:
			body, what = x.Body, "func "+x.Name.Name
		case *ast.FuncLit:
			body, what = x.Body, "func literal"
		}
		if body == nil {
			return true
		}
		start := fset.Position(n.Pos()).Line
		if lines := fset.Position(body.Rbrace).Line - start + 1; lines > lim.fn {
			offs = append(offs, offence{path: rel, line: start, what: what, lines: lines, limit: lim.fn})
		}
		return true
	})
	return offs, nil
}

// countLines counts lines as wc -l does, plus an unterminated last line.
func countLines(src []byte) int {
	n := bytes.Count(src, []byte("\n"))
	if len(src) > 0 && src[len(src)-1] != '\n' {
		n++
	}
	return n
}
