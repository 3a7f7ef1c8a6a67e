package rootdisk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"banger/internal/atomicfile"
	"banger/internal/vmm"
)

// A device-mapper snapshot root disk is three files in the VM's directory,
// made by Prepare:
//
//	root.origin  a hard link of the image's raw rootfs (read-only origin; the
//	             link keeps the data even if the image is removed)
//	root.cow     a sparse copy-on-write store the guest's writes go to
//	root.dm      a marker (snapshotMarker, JSON) naming the two
//
// The VM's root vmm.Disk is the marker. A backend's Start reads it and,
// before laying out the drives, attaches both files to loop devices and
// creates /dev/mapper/banger-<vm id> (Activate), which the VMM gets as its
// root drive. Stop, Kill and a failed Start remove the mapping and detach
// the loops (Teardown), as the backend recorded them.
const (
	SnapshotMarkerName = "root.dm"
	snapshotOriginName = "root.origin"
	snapshotCOWName    = "root.cow"
	// snapshotChunkSectors is the snapshot's chunk size: 8 sectors, 4 KiB,
	// the guest filesystem's block size, so a small write copies little.
	snapshotChunkSectors = 8
)

// snapshotMarker is root.dm. Paths are relative to its directory.
type snapshotMarker struct {
	Method       string `json:"method"` // MethodDMSnapshot
	Origin       string `json:"origin"`
	COW          string `json:"cow"`
	Sectors      int64  `json:"sectors"` // origin size in 512-byte sectors
	ChunkSectors int    `json:"chunk_sectors"`
}

// cowSize is the size of the sparse copy-on-write file for an origin of
// size bytes: the whole origin (every chunk rewritten), plus the persistent
// exception store's metadata (16 bytes per 4 KiB chunk, 1/256, doubled for
// slack) and 1 MiB for its header. The snapshot can therefore never
// overflow and be invalidated; being sparse, the file only takes the space
// the guest actually writes.
func cowSize(size int64) int64 { return size + size/128 + 1<<20 }

// errCrossDevice says the image cannot be hard-linked into the VM dir.
var errCrossDevice = errors.New("image and VM directory are on different filesystems")

// prepareSnapshot writes root.origin, root.cow and root.dm in dir. On
// failure nothing is left.
func prepareSnapshot(image, dir string) (_ vmm.Disk, err error) {
	fail := func(err error) (vmm.Disk, error) {
		return vmm.Disk{}, fmt.Errorf("prepare dm-snapshot root disk in %s: %w", dir, err)
	}
	fi, err := os.Stat(image)
	if err != nil {
		return fail(err)
	}
	if fi.Size() <= 0 || fi.Size()%512 != 0 {
		return fail(fmt.Errorf("image %s is %d bytes, not a positive multiple of 512; rebuild the image", image, fi.Size()))
	}
	var made []string
	defer func() {
		if err != nil {
			for i := len(made) - 1; i >= 0; i-- {
				_ = os.Remove(made[i])
			}
		}
	}()
	origin := filepath.Join(dir, snapshotOriginName)
	if err := os.Link(image, origin); err != nil {
		if errors.Is(err, unix.EXDEV) {
			return vmm.Disk{}, fmt.Errorf("hard-link %s into %s: %w", image, dir, errCrossDevice)
		}
		return fail(fmt.Errorf("hard-link the image: %w", err))
	}
	made = append(made, origin)
	cow := filepath.Join(dir, snapshotCOWName)
	f, err := os.OpenFile(cow, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fail(fmt.Errorf("create copy-on-write file: %w", err))
	}
	made = append(made, cow)
	err = f.Truncate(cowSize(fi.Size()))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(fmt.Errorf("size copy-on-write file: %w", err))
	}
	m := snapshotMarker{Method: MethodDMSnapshot, Origin: snapshotOriginName, COW: snapshotCOWName,
		Sectors: fi.Size() / 512, ChunkSectors: snapshotChunkSectors}
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return fail(err)
	}
	marker := filepath.Join(dir, SnapshotMarkerName)
	if err := atomicfile.Write(marker, b, 0o600); err != nil {
		return fail(err)
	}
	made = append(made, marker)
	return vmm.Disk{Path: marker, Format: "raw"}, nil
}

// IsSnapshotMarker says whether a disk path names a root.dm marker.
func IsSnapshotMarker(p string) bool { return filepath.Ext(p) == ".dm" }

func readMarker(p string) (snapshotMarker, error) {
	var m snapshotMarker
	b, err := os.ReadFile(p)
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%s is not a root disk marker: %w", p, err)
	}
	if m.Method != MethodDMSnapshot || m.Origin == "" || m.COW == "" || m.Sectors <= 0 || m.ChunkSectors <= 0 {
		return m, fmt.Errorf("%s: not a complete %s marker", p, MethodDMSnapshot)
	}
	return m, nil
}

// SnapshotDeviceName is the device-mapper name of VM id's root snapshot.
func SnapshotDeviceName(id string) string { return "banger-" + id }

// DMState is what Activate set up for a snapshot; the backend keeps it in
// its runtime state so that Teardown can undo it, even after a restart.
type DMState struct {
	// Name is the mapping, recorded just before dmsetup create so that a
	// half-made one is removed too.
	Name  string       `json:"name,omitempty"`
	Loops []LoopRecord `json:"loops,omitempty"` // in attach order
}

// LoopRecord is an attached loop device and the file behind it; teardown
// only detaches Dev while File is still behind it, as loop numbers are
// reused once free.
type LoopRecord struct {
	Dev  string `json:"dev"`
	File string `json:"file"`
}

// Activate sets up the snapshot described by the marker for VM id and
// returns the device path. Each step is recorded in d and saved (with
// save) before the next, so that a failed Start, or a daemon restarted
// meanwhile, can undo it with Teardown.
func (o Host) Activate(ctx context.Context, id, markerPath string, d *DMState, save func() error) (string, error) {
	m, err := readMarker(markerPath)
	if err != nil {
		return "", fmt.Errorf("root disk snapshot: %w", err)
	}
	dir := filepath.Dir(markerPath)
	origin, cow := filepath.Join(dir, m.Origin), filepath.Join(dir, m.COW)
	fi, err := os.Stat(origin)
	if err != nil {
		return "", fmt.Errorf("root disk snapshot: origin: %w", err)
	}
	if fi.Size()/512 != m.Sectors {
		return "", fmt.Errorf("root disk snapshot: origin %s is %d sectors, the snapshot was made over %d; the image changed under the VM, recreate it", origin, fi.Size()/512, m.Sectors)
	}
	for _, l := range []struct {
		file string
		argv []string
	}{
		{origin, []string{"losetup", "--find", "--show", "--read-only", origin}},
		{cow, []string{"losetup", "--find", "--show", cow}},
	} {
		out, err := o.Run(ctx, l.argv)
		if err != nil {
			return "", fmt.Errorf("attach %s to a loop device (%s): %w: %s; check that the loop module is loaded", l.file, strings.Join(l.argv, " "), err, firstLine(string(out)))
		}
		dev := strings.TrimSpace(string(out))
		if !strings.HasPrefix(dev, "/dev/loop") || strings.ContainsAny(dev, " \n") {
			return "", fmt.Errorf("attach %s to a loop device: losetup printed %q, not a loop device", l.file, firstLine(string(out)))
		}
		d.Loops = append(d.Loops, LoopRecord{Dev: dev, File: l.file})
		if err := save(); err != nil {
			return "", err
		}
	}
	name := SnapshotDeviceName(id)
	d.Name = name
	if err := save(); err != nil {
		return "", err
	}
	table := fmt.Sprintf("0 %d snapshot %s %s P %d", m.Sectors, d.Loops[0].Dev, d.Loops[1].Dev, m.ChunkSectors)
	if out, err := o.Run(ctx, []string{"dmsetup", "create", name, "--table", table}); err != nil {
		return "", fmt.Errorf("create device-mapper snapshot %s (table %q): %w: %s; check that the dm_snapshot module is loaded", name, table, err, firstLine(string(out)))
	}
	return filepath.Join(o.DevRoot, "mapper", name), nil
}

// Teardown removes the mapping, then detaches the loops last first. What is
// already gone is not an error. What could not be undone stays in d and is
// reported.
func (o Host) Teardown(ctx context.Context, d *DMState) error {
	if d == nil {
		return nil
	}
	if d.Name != "" {
		out, err := o.Run(ctx, []string{"dmsetup", "remove", "--retry", d.Name})
		if err != nil && !gone(out) {
			return fmt.Errorf("remove device-mapper snapshot %s: %w: %s; remove it with `dmsetup remove %s` once nothing holds it open, then detach %s", d.Name, err, firstLine(string(out)), d.Name, LoopDevs(d.Loops))
		}
		d.Name = ""
	}
	var errs []error
	var left []LoopRecord
	for i := len(d.Loops) - 1; i >= 0; i-- {
		l := d.Loops[i]
		if err := o.detach(ctx, l); err != nil {
			errs = append(errs, err)
			left = append([]LoopRecord{l}, left...)
		}
	}
	d.Loops = left
	return errors.Join(errs...)
}

func (o Host) detach(ctx context.Context, l LoopRecord) error {
	back, err := os.ReadFile(filepath.Join(o.SysRoot, "block", filepath.Base(l.Dev), "loop", "backing_file"))
	if errors.Is(err, os.ErrNotExist) {
		return nil // not attached any more
	}
	if err != nil {
		return fmt.Errorf("check loop device %s: %w", l.Dev, err)
	}
	if b := strings.TrimSuffix(strings.TrimSpace(string(back)), " (deleted)"); b != l.File {
		o.logger().Warn("loop device was reused, leaving it", "dev", l.Dev, "want", l.File, "backing", b)
		return nil
	}
	out, err := o.Run(ctx, []string{"losetup", "-d", l.Dev})
	if err != nil && !gone(out) {
		return fmt.Errorf("detach loop device %s (%s): %w: %s; detach it with `losetup -d %s`", l.Dev, l.File, err, firstLine(string(out)), l.Dev)
	}
	return nil
}

// gone says whether dmsetup or losetup output means the device does not exist.
func gone(out []byte) bool {
	s := strings.ToLower(string(out))
	for _, w := range []string{"not found", "no such device", "does not exist", "no such file"} {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func LoopDevs(ls []LoopRecord) string {
	var s []string
	for _, l := range ls {
		s = append(s, l.Dev)
	}
	if len(s) == 0 {
		return "no loop devices"
	}
	return strings.Join(s, " and ")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

func (o Host) logger() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}
