// Package disk makes the ext4 work disks VMs get. (Root disks are the
// backends' business: see vmm.RootDisker.)
package disk

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Runner runs a command given as argv and returns its combined output.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// Exec is the Runner that runs real commands.
func Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// Maker creates disks. MkfsExt4 names the tool; empty means mkfs.ext4 on
// PATH.
type Maker struct {
	Run      Runner
	MkfsExt4 string
}

func (m *Maker) run(ctx context.Context, name string, args ...string) error {
	run := m.Run
	if run == nil {
		run = Exec
	}
	_, err := run(ctx, name, args...)
	return err
}

// WorkDisk creates a sparse ext4 file of size bytes at path, populated from
// the seed directory (which becomes the filesystem's root, mounted at /root
// in the guest). mkfs.ext4 writes only metadata, so this is fast at any size.
func (m *Maker) WorkDisk(ctx context.Context, path string, size int64, seed string, label string) error {
	if size < 16<<20 {
		return fmt.Errorf("create work disk: size %d is too small, use at least 16M", size)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create work disk: %w", err)
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("create work disk: size %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("create work disk: %w", err)
	}
	tool := m.MkfsExt4
	if tool == "" {
		tool = "mkfs.ext4"
	}
	args := []string{"-q", "-F", "-L", label, "-E", "root_owner=0:0", "-m", "0"}
	if seed != "" {
		args = append(args, "-d", seed)
	}
	args = append(args, path, strconv.FormatInt(size/1024, 10)+"k")
	if err := m.run(ctx, tool, args...); err != nil {
		os.Remove(path)
		return fmt.Errorf("create work disk %s: %w", path, err)
	}
	return nil
}

// Seed writes the initial content of root's home on a work disk into dir:
// the authorized key and a shell profile.
func Seed(dir, authorizedKey string) error {
	files := []struct {
		path string
		mode os.FileMode
		data string
	}{
		{".ssh/authorized_keys", 0o600, authorizedKey + "\n"},
		{".profile", 0o644, "if [ -n \"$BASH_VERSION\" ] && [ -f ~/.bashrc ]; then . ~/.bashrc; fi\n"},
		{".bashrc", 0o644, "PS1='\\u@\\h:\\w\\$ '\nalias ll='ls -l'\n"},
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("seed work disk: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, ".ssh"), 0o700); err != nil {
		return fmt.Errorf("seed work disk: %w", err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.path), []byte(f.data), f.mode); err != nil {
			return fmt.Errorf("seed work disk: %w", err)
		}
	}
	return nil
}
