package firecracker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"banger/internal/atomicfile"
	"banger/internal/vmm"
	"banger/internal/vmm/rootdisk"
)

// layout is where Firecracker finds each file, as paths it can open: host
// paths when it runs unjailed, paths inside the chroot when jailed.
type layout struct {
	apiSock, kernel, initrd string
	disks                   []string
	vsock                   string
	logger, metrics         string
	console                 string
	execFile                string // jailed: absolute firecracker binary
	uid                     int    // jailed: uid and gid
}

// runState records what Start created so that Stop, Kill and a failed Start
// undo it in reverse order. It is saved in the runtime dir, so a restarted
// daemon can still clean up a VM it adopted.
type runState struct {
	Dir     string            `json:"dir"`
	Jail    string            `json:"jail,omitempty"`    // <chroot base>/<exec name>/<id>, removed whole
	Remove  []string          `json:"remove,omitempty"`  // files and links, removed last first
	Chowns  []chownRecord     `json:"chowns,omitempty"`  // owners to restore, last first
	Salvage []salvage         `json:"salvage,omitempty"` // files copied out of the jail before it goes
	DM      *rootdisk.DMState `json:"dm,omitempty"`      // root disk snapshot, torn down after the jail

	// Only for a failed Start:
	CreatedDir bool     `json:"-"`
	Created    []string `json:"-"` // files that go only if Start fails
	kill       func()   // stop the process before undoing
}

type chownRecord struct {
	Path     string `json:"path"`
	UID, GID int
}

// salvage appends From (in the jail) to To (on the host) after removing
// whatever symlink To is.
type salvage struct {
	From, To string
}

func (s *runState) save() error {
	b, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return fmt.Errorf("record runtime state: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(s.Dir, stateFileName), b, 0o600); err != nil {
		return fmt.Errorf("record runtime state: %w", err)
	}
	return nil
}

func loadState(dir string) (*runState, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if err != nil {
		return nil, fmt.Errorf("read firecracker runtime state: %w", err)
	}
	var s runState
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read firecracker runtime state: %w", err)
	}
	s.Dir = dir
	return &s, nil
}

// undo rolls back a failed Start: the process, then everything recorded.
func (s *runState) undo(ctx context.Context, log *slog.Logger, dm rootdisk.Host) {
	if s.kill != nil {
		s.kill()
	}
	s.cleanup(ctx, log, dm)
	for i := len(s.Created) - 1; i >= 0; i-- {
		_ = os.Remove(s.Created[i])
	}
	if s.CreatedDir {
		_ = os.Remove(s.Dir) // only if empty: it may hold the daemon's files too
	}
}

// cleanup undoes a run whose process has exited, in the reverse order of
// Start: files, jail, then the root disk snapshot (made before the jail).
// If the snapshot cannot be removed, the state file keeps it for the next
// cleanup or Start.
func (s *runState) cleanup(ctx context.Context, log *slog.Logger, dm rootdisk.Host) {
	for i := len(s.Salvage) - 1; i >= 0; i-- {
		sv := s.Salvage[i]
		if err := appendFile(sv.From, sv.To); err != nil {
			log.Warn("firecracker cleanup: keep log from the jail", "from", sv.From, "to", sv.To, "err", err)
		}
	}
	for i := len(s.Chowns) - 1; i >= 0; i-- {
		c := s.Chowns[i]
		if err := os.Lchown(c.Path, c.UID, c.GID); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Warn("firecracker cleanup: restore owner", "path", c.Path, "err", err)
		}
	}
	for i := len(s.Remove) - 1; i >= 0; i-- {
		if err := os.Remove(s.Remove[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Warn("firecracker cleanup: remove", "path", s.Remove[i], "err", err)
		}
	}
	if s.Jail != "" {
		if err := os.RemoveAll(s.Jail); err != nil {
			log.Warn("firecracker cleanup: remove jail", "path", s.Jail, "err", err)
		}
	}
	if err := dm.Teardown(ctx, s.DM); err != nil {
		log.Warn("firecracker cleanup: root disk snapshot", "err", err)
		left := &runState{Dir: s.Dir, DM: s.DM}
		if err := left.save(); err != nil {
			log.Warn("firecracker cleanup: keep what is left of the root disk snapshot", "err", err)
		}
		return
	}
	_ = os.Remove(filepath.Join(s.Dir, stateFileName))
}

// appendFile replaces a symlink at dst by a regular file and appends src.
func appendFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	defer in.Close()
	if fi, err := os.Lstat(dst); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		if err := os.Remove(dst); err != nil {
			return err
		}
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// plainLayout is the unjailed layout: Firecracker opens host paths.
func plainLayout(cfg vmm.Config, st *runState) (layout, error) {
	l := layout{
		apiSock: APISocket(cfg.Dir),
		kernel:  cfg.Kernel,
		initrd:  cfg.Initrd,
		vsock:   cfg.AgentSocket,
		logger:  filepath.Join(cfg.Dir, logFileName),
		metrics: filepath.Join(cfg.Dir, metricsName),
		console: cfg.ConsoleLog,
	}
	for _, d := range cfg.Disks {
		l.disks = append(l.disks, d.Path)
	}
	st.Remove = append(st.Remove, l.apiSock, l.vsock)
	created, err := touch(l.console, -1)
	if err != nil {
		return l, err
	}
	if created {
		st.Created = append(st.Created, l.console)
	}
	if _, err := touch(l.metrics, -1); err != nil {
		return l, err
	}
	st.Remove = append(st.Remove, l.metrics)
	return l, nil
}

// touch creates path if missing (Firecracker wants its serial, log and
// metrics files to exist) and, if uid >= 0, gives it to uid.
func touch(path string, uid int) (created bool, err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, os.ErrExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("create %s: %w", path, err)
	}
	f.Close()
	if uid >= 0 {
		if err := os.Chown(path, uid, uid); err != nil {
			return true, fmt.Errorf("give %s to uid %d: %w", path, uid, err)
		}
	}
	return true, nil
}

// JailRoot is the chroot the jailer builds for a VM:
// <chrootBase>/<firecracker binary name>/<id>/root.
func JailRoot(chrootBase, binary, id string) string {
	return filepath.Join(chrootBase, filepath.Base(binary), id, "root")
}

// buildJail lays out the chroot before the jailer runs: hard links of the
// kernel, initrd and disks, the log files Firecracker writes, and host-side
// links to the sockets it will create inside. Each step is recorded in st.
func (f *Firecracker) buildJail(cfg vmm.Config, st *runState) (layout, error) {
	exe, err := exec.LookPath(f.binary)
	if err != nil {
		return layout{}, fmt.Errorf("find firecracker for the jailer: %w", err)
	}
	if exe, err = filepath.Abs(exe); err != nil {
		return layout{}, fmt.Errorf("find firecracker for the jailer: %w", err)
	}
	root := JailRoot(f.chrootBase, exe, cfg.ID)
	jail := filepath.Dir(root)
	if _, err := os.Lstat(jail); err == nil {
		f.log.Warn("removing a stale firecracker jail", "vm", cfg.ID, "path", jail)
		if err := os.RemoveAll(jail); err != nil {
			return layout{}, fmt.Errorf("remove stale jail %s: %w", jail, err)
		}
	}
	st.Jail = jail
	if err := os.MkdirAll(root, 0o755); err != nil {
		return layout{}, fmt.Errorf("create jail %s: %w", root, err)
	}
	uid := JailUID(f.uidBase, cfg)
	l := layout{
		apiSock: "/" + apiSocketName, kernel: "/vmlinux", vsock: "/agent.vsock",
		logger: "/firecracker.log", metrics: "/metrics.json", console: "/console.log",
		execFile: exe, uid: uid,
	}
	in := func(p string) string { return filepath.Join(root, p) }

	if err := f.linkIn(cfg.Kernel, in(l.kernel), false, uid, st); err != nil {
		return l, err
	}
	if cfg.Initrd != "" {
		l.initrd = "/initrd"
		if err := f.linkIn(cfg.Initrd, in(l.initrd), false, uid, st); err != nil {
			return l, err
		}
	}
	for i, d := range cfg.Disks {
		p := "/" + DriveID(i)
		if err := f.linkIn(d.Path, in(p), !d.ReadOnly, uid, st); err != nil {
			return l, err
		}
		l.disks = append(l.disks, p)
	}
	for _, p := range []string{l.logger, l.metrics, l.console} {
		if _, err := touch(in(p), uid); err != nil {
			return l, err
		}
	}
	// Keep earlier console output: the jail's console starts as a copy of it,
	// the host path links to the live file, and cleanup copies it back.
	if err := copyRegular(cfg.ConsoleLog, in(l.console)); err != nil {
		return l, err
	}
	for _, ln := range [][2]string{
		{in(l.apiSock), APISocket(cfg.Dir)},
		{in(l.vsock), cfg.AgentSocket},
	} {
		if err := os.Symlink(ln[0], ln[1]); err != nil {
			return l, fmt.Errorf("link %s to the jail: %w", ln[1], err)
		}
		st.Remove = append(st.Remove, ln[1])
	}
	st.Salvage = append(st.Salvage,
		salvage{From: in(l.logger), To: filepath.Join(cfg.Dir, logFileName)},
		salvage{From: in(l.console), To: cfg.ConsoleLog},
	)
	if _, err := os.Lstat(cfg.ConsoleLog); errors.Is(err, os.ErrNotExist) {
		st.Created = append(st.Created, cfg.ConsoleLog)
	}
	_ = os.Remove(cfg.ConsoleLog)
	if err := os.Symlink(in(l.console), cfg.ConsoleLog); err != nil {
		return l, fmt.Errorf("link console log to the jail: %w", err)
	}
	return l, nil
}

// copyRegular copies src to dst (which exists) if src is a regular file.
func copyRegular(src, dst string) error {
	fi, err := os.Lstat(src)
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	if err := appendFile(src, dst); err != nil {
		return fmt.Errorf("carry console log into the jail: %w", err)
	}
	return nil
}

// linkIn puts src into the jail at dst: a hard link for files (so the chroot
// base must share src's filesystem), a device node for block devices.
// Writable files are given to uid for the run; read-only ones must already be
// world-readable, since changing a shared image's owner would touch every VM.
func (f *Firecracker) linkIn(src, dst string, writable bool, uid int, st *runState) error {
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("put %s in the jail: %w", src, err)
	}
	sys, _ := fi.Sys().(*syscall.Stat_t)
	if sys == nil {
		return fmt.Errorf("put %s in the jail: no stat data", src)
	}
	if fi.Mode()&os.ModeDevice != 0 && fi.Mode()&os.ModeCharDevice == 0 {
		mode := uint32(unix.S_IFBLK | 0o400)
		if writable {
			mode |= 0o200
		}
		if err := unix.Mknod(dst, mode, int(sys.Rdev)); err != nil {
			return fmt.Errorf("put block device %s in the jail: %w", src, err)
		}
		if err := os.Chown(dst, uid, uid); err != nil {
			return fmt.Errorf("put block device %s in the jail: %w", src, err)
		}
		return nil
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("put %s in the jail: not a regular file or block device", src)
	}
	if !writable && fi.Mode().Perm()&0o004 == 0 && int(sys.Uid) != uid {
		return fmt.Errorf("put %s in the jail: it is not world-readable (mode %v), so the jailed firecracker (uid %d) cannot open it", src, fi.Mode().Perm(), uid)
	}
	if err := os.Link(src, dst); err != nil {
		if errors.Is(err, unix.EXDEV) {
			return fmt.Errorf("hard-link %s into the jail: the jailer's chroot base %s is on another filesystem; put it on the image store's filesystem: %w", src, f.chrootBase, err)
		}
		return fmt.Errorf("hard-link %s into the jail: %w", src, err)
	}
	if writable && int(sys.Uid) != uid {
		st.Chowns = append(st.Chowns, chownRecord{Path: src, UID: int(sys.Uid), GID: int(sys.Gid)})
		if err := os.Chown(src, uid, uid); err != nil {
			return fmt.Errorf("give %s to uid %d: %w", src, uid, err)
		}
	}
	return nil
}

// SameFilesystem reports whether a and b (or, for paths that do not exist
// yet, their nearest existing parents) are on the same filesystem, as hard
// links into the jailer's chroot need.
func SameFilesystem(a, b string) (bool, error) {
	da, err := deviceOf(a)
	if err != nil {
		return false, err
	}
	db, err := deviceOf(b)
	if err != nil {
		return false, err
	}
	return da == db, nil
}

func deviceOf(p string) (uint64, error) {
	p, err := filepath.Abs(p)
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", p, err)
	}
	for {
		var st unix.Stat_t
		err := unix.Stat(p, &st)
		if err == nil {
			return st.Dev, nil
		}
		if !errors.Is(err, unix.ENOENT) || p == "/" {
			return 0, fmt.Errorf("stat %s: %w", p, err)
		}
		p = filepath.Dir(p)
	}
}
