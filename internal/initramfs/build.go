package initramfs

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Paths inside the archive, shared by Build and Stage1.
const (
	InitPath  = "/init"
	ModDir    = "/lib/modules/banger"
	LoadOrder = ModDir + "/load.order" // module file names, one per line, in load order
	NewRoot   = "/newroot"
)

// Spec says what goes into an initramfs.
type Spec struct {
	// Init is the static binary that becomes /init: banger-agent.
	Init string
	// ModulesDir is the kernel's modules directory (/lib/modules/<version>
	// of the tree the kernel came from), with its modules.dep.
	ModulesDir string
	// Modules are the module names to load, besides their dependencies.
	Modules []string
}

// Build writes the initramfs Spec describes to w, uncompressed: the kernel
// unpacks it at memory speed, which under emulation beats decompressing.
func Build(w io.Writer, s Spec) error {
	var files []string
	if len(s.Modules) > 0 {
		ix, err := readIndex(s.ModulesDir)
		if err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
		if files, err = ix.loadOrder(s.Modules); err != nil {
			return fmt.Errorf("initramfs: %w", err)
		}
	}
	c := &cpioWriter{w: w}
	for _, d := range []string{"dev", "proc", "sys", "lib", "lib/modules", strings.TrimPrefix(ModDir, "/"), strings.TrimPrefix(NewRoot, "/")} {
		c.dir(d)
	}
	c.charDev("dev/console", 0o600, 5, 1)
	if err := addFile(c, strings.TrimPrefix(InitPath, "/"), s.Init, 0o755); err != nil {
		return err
	}
	var order strings.Builder
	for _, f := range files {
		if path.Ext(f) != ".ko" {
			return fmt.Errorf("initramfs: module %s is compressed; banger's initramfs loads plain .ko files", f)
		}
		base := path.Base(f)
		if err := addFile(c, strings.TrimPrefix(ModDir, "/")+"/"+base, filepath.Join(s.ModulesDir, filepath.FromSlash(f)), 0o644); err != nil {
			return err
		}
		order.WriteString(base + "\n")
	}
	c.file(strings.TrimPrefix(LoadOrder, "/"), 0o644, int64(order.Len()), strings.NewReader(order.String()))
	if err := c.close(); err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}

// addFile adds the regular file at src as name.
func addFile(c *cpioWriter, name, src string, perm uint32) error {
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("initramfs: %s is not a regular file", src)
	}
	c.file(name, perm, fi.Size(), f)
	return c.err
}
