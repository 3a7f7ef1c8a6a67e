package initramfs

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// maxIndex bounds what is read of a modules.dep or modules.builtin file.
const maxIndex = 16 << 20

// moduleName is the kernel's name for a module file or a name given by a
// user: the base name without ".ko" (or a compressed suffix), with "-" as "_".
func moduleName(s string) string {
	s = filepath.Base(s)
	if i := strings.Index(s, ".ko"); i >= 0 {
		s = s[:i]
	}
	return strings.ReplaceAll(s, "-", "_")
}

// depIndex is a kernel's modules.dep: each module's file (relative to the
// modules dir) and the files it depends on.
type depIndex struct {
	file    map[string]string   // name -> file
	deps    map[string][]string // name -> names it needs
	builtin map[string]bool
}

func readIndex(dir string) (*depIndex, error) {
	ix := &depIndex{file: map[string]string{}, deps: map[string][]string{}, builtin: map[string]bool{}}
	err := eachLine(filepath.Join(dir, "modules.dep"), func(line string) error {
		file, rest, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("malformed line %q", line)
		}
		n := moduleName(file)
		ix.file[n] = file
		for _, d := range strings.Fields(rest) {
			ix.deps[n] = append(ix.deps[n], moduleName(d))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// modules.builtin is optional: a kernel with no built-in modules.
	err = eachLine(filepath.Join(dir, "modules.builtin"), func(line string) error {
		ix.builtin[moduleName(line)] = true
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	return ix, nil
}

func eachLine(path string, fn func(string) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxIndex))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := fn(line); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

// loadOrder returns the files of the modules named and everything they
// depend on, each after its dependencies. Names built into the kernel
// are skipped; a name that is neither a module nor built in is an error.
func (ix *depIndex) loadOrder(names []string) ([]string, error) {
	var order []string
	state := map[string]int{} // 1: visiting, 2: done
	var visit func(n string, from string) error
	visit = func(n, from string) error {
		switch state[n] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("module %s: dependency cycle through %s", n, from)
		}
		file, ok := ix.file[n]
		if !ok {
			if ix.builtin[n] {
				state[n] = 2
				return nil
			}
			return fmt.Errorf("module %s: not in modules.dep nor built into the kernel", n)
		}
		state[n] = 1
		for _, d := range ix.deps[n] {
			if err := visit(d, n); err != nil {
				return err
			}
		}
		state[n] = 2
		order = append(order, file)
		return nil
	}
	for _, n := range names {
		if err := visit(moduleName(n), n); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// ReadModuleList reads a list of module names, one per line, with "#"
// comments (the format of initramfs-tools' modules file).
func ReadModuleList(r io.Reader) ([]string, error) {
	var names []string
	sc := bufio.NewScanner(io.LimitReader(r, 1<<20))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		names = append(names, f[0])
	}
	return names, sc.Err()
}
