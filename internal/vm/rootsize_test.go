package vm

import "testing"

func TestRootDiskSize(t *testing.T) {
	const mib, gib = 1 << 20, 1 << 30
	for _, c := range []struct {
		name              string
		image, room, want int64
	}{
		{"no room", gib, 0, gib},
		{"room and an eighth", gib, 4 * gib, gib + 4*gib + gib/2},
		{"rounded up to a MiB", gib + 1, 8 * mib, gib + 10*mib},
	} {
		got := rootDiskSize(c.image, c.room)
		if got != c.want {
			t.Errorf("%s: rootDiskSize(%d, %d) = %d, want %d", c.name, c.image, c.room, got, c.want)
		}
	}
	// The room must survive ext4's 5 % reserved blocks and the inode
	// tables of the added groups (16 KiB of data per 256-byte inode).
	image, room := int64(gib), int64(4*gib)
	added := rootDiskSize(image, room) - image
	if free := added - added/20 - added/64; free < room {
		t.Errorf("%d bytes added leave %d free after ext4's share, less than the %d asked", added, free, room)
	}
}
