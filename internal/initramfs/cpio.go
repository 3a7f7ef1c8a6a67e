// Package initramfs builds banger's own initramfs: a newc cpio archive
// holding the agent as /init and the kernel modules a microvm needs to
// reach its root disk, in the order they load. The agent, run from it,
// loads them, mounts the root disk and switches to it (see
// internal/guestinit's Stage1); no shell, udev or initramfs-tools runs.
package initramfs

import (
	"fmt"
	"io"
	"strings"
)

// cpioWriter writes a newc ("070701") cpio archive.
type cpioWriter struct {
	w     io.Writer
	ino   uint32
	err   error
	wrote int64
}

const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeChar = 0o020000
)

// header writes the header and name of one entry; the caller writes size
// bytes of data after it and then pad(size).
func (c *cpioWriter) header(name string, mode uint32, size int64, rdevMajor, rdevMinor uint32) {
	if c.err != nil {
		return
	}
	if size > 0xffffffff {
		c.err = fmt.Errorf("cpio: %s is too large (%d bytes)", name, size)
		return
	}
	c.ino++
	nlink := uint32(1)
	if mode&modeDir != 0 {
		nlink = 2
	}
	fields := []uint32{c.ino, mode, 0, 0, nlink, 0, uint32(size), 0, 0, rdevMajor, rdevMinor, uint32(len(name) + 1), 0}
	var b strings.Builder
	b.WriteString("070701")
	for _, f := range fields {
		fmt.Fprintf(&b, "%08x", f)
	}
	b.WriteString(name)
	b.WriteByte(0)
	c.write([]byte(b.String()))
	c.pad(int64(b.Len()))
}

func (c *cpioWriter) write(p []byte) {
	if c.err != nil {
		return
	}
	n, err := c.w.Write(p)
	c.wrote += int64(n)
	c.err = err
}

// pad writes the zeros that align an n-byte field to 4 bytes.
func (c *cpioWriter) pad(n int64) {
	if r := n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) dir(name string) { c.header(name, modeDir|0o755, 0, 0, 0) }

func (c *cpioWriter) charDev(name string, perm, major, minor uint32) {
	c.header(name, modeChar|perm, 0, major, minor)
}

// file writes an entry of size bytes read from r.
func (c *cpioWriter) file(name string, perm uint32, size int64, r io.Reader) {
	c.header(name, modeFile|perm, size, 0, 0)
	if c.err != nil {
		return
	}
	n, err := io.Copy(c.w, io.LimitReader(r, size))
	c.wrote += n
	switch {
	case err != nil:
		c.err = fmt.Errorf("cpio: %s: %w", name, err)
	case n != size:
		c.err = fmt.Errorf("cpio: %s: got %d of %d bytes", name, n, size)
	}
	c.pad(size)
}

// close writes the trailer and pads the archive to 512 bytes.
func (c *cpioWriter) close() error {
	c.header("TRAILER!!!", 0, 0, 0, 0)
	if r := c.wrote % 512; r != 0 && c.err == nil {
		c.write(make([]byte, 512-r))
	}
	return c.err
}
