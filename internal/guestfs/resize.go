package guestfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ext4IocResizeFS is EXT4_IOC_RESIZE_FS, _IOW('f', 16, __u64): grow a
// mounted ext4 file system to the given block count.
const ext4IocResizeFS = 0x40086610

// The parts of the ext4 superblock (1024 bytes at offset 1024) Grow reads.
const (
	superblockOffset = 1024
	superblockSize   = 1024
	ext4Magic        = 0xEF53
	incompat64bit    = 0x80
)

// Superblock is what Grow needs of an ext4 superblock.
type Superblock struct {
	Blocks    uint64
	BlockSize uint64
}

// ParseSuperblock reads an ext4 superblock (the 1024 bytes at offset 1024
// of the device).
func ParseSuperblock(b []byte) (Superblock, error) {
	if len(b) < superblockSize {
		return Superblock{}, fmt.Errorf("superblock: %d bytes, want %d", len(b), superblockSize)
	}
	le := binary.LittleEndian
	if le.Uint16(b[0x38:]) != ext4Magic {
		return Superblock{}, errors.New("superblock: not ext2/3/4 (bad magic)")
	}
	logSize := le.Uint32(b[0x18:])
	if logSize > 6 {
		return Superblock{}, fmt.Errorf("superblock: block size 2^(10+%d) is not valid", logSize)
	}
	sb := Superblock{Blocks: uint64(le.Uint32(b[0x4:])), BlockSize: 1024 << logSize}
	if le.Uint32(b[0x60:])&incompat64bit != 0 {
		sb.Blocks |= uint64(le.Uint32(b[0x150:])) << 32
	}
	return sb, nil
}

// Grow grows the ext4 file system mounted on dir, whose block device is
// dev, to the whole device (see Target). The device's size comes from
// BLKGETSIZE64, the block size from statfs(dir) and the block count from
// the superblock; nothing is done when the file system fills the device.
func Grow(dir, dev string) (Growth, error) {
	g := Growth{Device: dev}
	sb, devBytes, err := readDevice(dev)
	if err != nil {
		return g, err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return g, fmt.Errorf("statfs %s: %w", dir, err)
	}
	if uint64(st.Bsize) != sb.BlockSize {
		return g, fmt.Errorf("%s has %d-byte blocks but the superblock of %s says %d: is it mounted there?", dir, st.Bsize, dev, sb.BlockSize)
	}
	g.BlockSize, g.DevBytes, g.OldBlocks = sb.BlockSize, devBytes, sb.Blocks
	g.NewBlocks = Target(devBytes, sb.BlockSize, sb.Blocks)
	if !g.Grew() {
		return g, nil
	}
	if err := resize(dir, g.NewBlocks); err != nil {
		g.NewBlocks = g.OldBlocks
		return g, err
	}
	return g, nil
}

// readDevice reads dev's superblock and size.
func readDevice(dev string) (Superblock, uint64, error) {
	f, err := os.Open(dev)
	if err != nil {
		return Superblock{}, 0, fmt.Errorf("open root device: %w", err)
	}
	defer f.Close()
	var size uint64
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size))); e != 0 {
		return Superblock{}, 0, fmt.Errorf("size of %s (BLKGETSIZE64): %w", dev, e)
	}
	b := make([]byte, superblockSize)
	if _, err := f.ReadAt(b, superblockOffset); err != nil {
		return Superblock{}, 0, fmt.Errorf("read the superblock of %s: %w", dev, err)
	}
	sb, err := ParseSuperblock(b)
	if err != nil {
		return Superblock{}, 0, fmt.Errorf("%s: %w", dev, err)
	}
	return sb, size, nil
}

// resize asks the kernel to grow the file system mounted on dir to blocks.
func resize(dir string, blocks uint64) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	n := blocks
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, d.Fd(), ext4IocResizeFS, uintptr(unsafe.Pointer(&n))); e != 0 {
		return fmt.Errorf("resize %s to %d blocks (EXT4_IOC_RESIZE_FS): %w", dir, blocks, e)
	}
	return nil
}
