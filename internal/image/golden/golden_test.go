package golden

import (
	"banger/internal/rootfs"
	"banger/internal/rootfs/rootfstest"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// validSpec returns a spec that passes Validate, with its dirs under t.TempDir.
func validSpec(t *testing.T) Spec {
	t.Helper()
	dir := t.TempDir()
	agent := filepath.Join(dir, "banger-agent")
	if err := os.WriteFile(agent, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	keyring := filepath.Join(dir, "debian-archive-keyring.gpg")
	if err := os.WriteFile(keyring, []byte("keys"), 0o644); err != nil {
		t.Fatal(err)
	}
	return Spec{
		Name:        "debian-bookworm",
		Suite:       "bookworm",
		Keyring:     keyring,
		AgentBinary: agent,
		CacheDir:    filepath.Join(dir, "cache"),
		WorkDir:     filepath.Join(dir, "work"),
		OutDir:      filepath.Join(dir, "out"),
	}
}

func TestValidate(t *testing.T) {
	base := validSpec(t)
	if err := base.Validate(); err != nil {
		t.Fatalf("valid spec rejected: %v", err)
	}
	nonEmpty := t.TempDir()
	os.WriteFile(filepath.Join(nonEmpty, "x"), nil, 0o644)
	aFile := filepath.Join(t.TempDir(), "file")
	os.WriteFile(aFile, nil, 0o644)

	cases := []struct {
		name string
		mod  func(*Spec)
		want string
	}{
		{"empty name", func(s *Spec) { s.Name = "" }, "invalid image name"},
		{"upper case name", func(s *Spec) { s.Name = "Debian" }, "invalid image name"},
		{"leading dash", func(s *Spec) { s.Name = "-debian" }, "invalid image name"},
		{"slash in name", func(s *Spec) { s.Name = "a/b" }, "invalid image name"},
		{"name too long", func(s *Spec) { s.Name = strings.Repeat("a", 64) }, "invalid image name"},
		{"suite with digits", func(s *Spec) { s.Suite = "bookworm12" }, "invalid suite"},
		{"suite with slash", func(s *Spec) { s.Suite = "../x" }, "invalid suite"},
		{"ftp mirror", func(s *Spec) { s.Mirror = "ftp://deb.debian.org/debian" }, "invalid mirror"},
		{"mirror without host", func(s *Spec) { s.Mirror = "http:///debian" }, "invalid mirror"},
		{"package list injection", func(s *Spec) { s.Packages = []string{"vim,evil"} }, "invalid package"},
		{"package option", func(s *Spec) { s.Packages = []string{"--foo"} }, "invalid package"},
		{"relative agent", func(s *Spec) { s.AgentBinary = "banger-agent" }, "AgentBinary must be an absolute path"},
		{"relative cache", func(s *Spec) { s.CacheDir = "cache" }, "CacheDir must be an absolute path"},
		{"empty work dir", func(s *Spec) { s.WorkDir = "" }, "WorkDir must be an absolute path"},
		{"root out dir", func(s *Spec) { s.OutDir = "/" }, "OutDir must not be /"},
		{"missing agent", func(s *Spec) { s.AgentBinary = "/nonexistent/banger-agent" }, "checking agent binary"},
		{"agent is a dir", func(s *Spec) { s.AgentBinary = t.TempDir() }, "not a regular file"},
		{"out dir not empty", func(s *Spec) { s.OutDir = nonEmpty }, "not empty"},
		{"out dir is a file", func(s *Spec) { s.OutDir = aFile }, "not a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := base
			c.mod(&s)
			err := s.Validate()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate() = %v, want error containing %q", err, c.want)
			}
		})
	}

	// Defaults make an empty suite and mirror valid; an existing empty out
	// dir is fine.
	s := base
	s.Suite, s.Mirror, s.OutDir = "", "", t.TempDir()
	if err := s.Validate(); err != nil {
		t.Fatalf("defaults rejected: %v", err)
	}
}

func TestImageSize(t *testing.T) {
	cases := []struct {
		used, want int64
	}{
		{0, 512 * mib},
		{-5, 512 * mib},
		{10, 513 * mib},                      // any byte rounds up to the next MiB
		{mib, 514 * mib},                     // 1.4 MiB + 512 MiB -> 514 MiB
		{1000 * mib, 1912 * mib},             // exact: 1400 + 512
		{5 * mib, 519 * mib},                 // exact: 7 + 512
		{600*mib + 1, (840 + 512 + 1) * mib}, // just over an exact MiB
	}
	for _, c := range cases {
		if got := ImageSize(c.used); got != c.want {
			t.Errorf("ImageSize(%d) = %d MiB (%d), want %d MiB", c.used, got/mib, got, c.want/mib)
		}
	}
}

func TestDiskUsage(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "a", "big"), make([]byte, 300_000), 0o644))
	must(os.WriteFile(filepath.Join(dir, "a", "b", "small"), []byte("hi"), 0o644))
	// A sparse file occupies (almost) nothing.
	f, err := os.Create(filepath.Join(dir, "sparse"))
	must(err)
	must(f.Truncate(1 << 30))
	f.Close()
	before, err := DiskUsage(dir)
	must(err)
	if before < 300_000 || before > 10*mib {
		t.Fatalf("DiskUsage = %d, want about 300 kB (sparse file must not count)", before)
	}

	// A hard link and a symlink add no data blocks.
	must(os.Link(filepath.Join(dir, "a", "big"), filepath.Join(dir, "biglink")))
	must(os.Symlink("/usr", filepath.Join(dir, "usrlink")))
	after, err := DiskUsage(dir)
	must(err)
	if after != before {
		t.Fatalf("DiskUsage after hard link + symlink = %d, want %d", after, before)
	}

	// Agrees with du(1).
	if du, err := exec.LookPath("du"); err == nil {
		out, err := exec.Command(du, "-s", "-B1", dir).Output()
		must(err)
		want, err := strconv.ParseInt(strings.Fields(string(out))[0], 10, 64)
		must(err)
		if after != want {
			t.Fatalf("DiskUsage = %d, du -s -B1 = %d", after, want)
		}
	}
}

func TestParseMountsUnder(t *testing.T) {
	info := `22 1 0:21 / /proc rw - proc proc rw
30 22 0:5 / /var/tmp/w/x-1/rootfs/proc rw - proc proc rw
31 22 0:5 / /var/tmp/w/x-1/rootfs/dev rw - devtmpfs udev rw
32 22 0:5 / /var/tmp/w/x-1/rootfs2 rw - tmpfs t rw
33 22 0:5 / /var/tmp/w/x-1/root\040fs/sys rw - sysfs s rw
`
	f := strings.NewReader(info)
	got, err := parseMountsUnder(f, "/var/tmp/w/x-1/rootfs/")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/var/tmp/w/x-1/rootfs/proc", "/var/tmp/w/x-1/rootfs/dev"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	got, _ = parseMountsUnder(strings.NewReader(info), "/var/tmp/w/x-1/root fs")
	if !slices.Equal(got, []string{"/var/tmp/w/x-1/root fs/sys"}) {
		t.Fatalf("escaped path: got %v", got)
	}
}

func TestRemoveTreeUnmountsFirst(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "scratch")
	os.MkdirAll(filepath.Join(tree, "rootfs/dev/pts"), 0o755)
	mounted := []string{filepath.Join(tree, "rootfs/dev"), filepath.Join(tree, "rootfs/dev/pts")}
	var order []string
	b := &Builder{
		Mounts: func(d string) ([]string, error) { return slices.Clone(mounted), nil },
		Unmount: func(p string) error {
			order = append(order, p)
			mounted = slices.DeleteFunc(mounted, func(m string) bool { return m == p })
			return nil
		},
	}
	if err := b.removeTree(tree); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(order, []string{filepath.Join(tree, "rootfs/dev/pts"), filepath.Join(tree, "rootfs/dev")}) {
		t.Fatalf("unmount order %v, want deepest first", order)
	}
	if _, err := os.Stat(tree); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("tree not removed: %v", err)
	}
}

func TestRemoveTreeRefusesWhileMounted(t *testing.T) {
	tree := t.TempDir()
	os.WriteFile(filepath.Join(tree, "precious"), []byte("x"), 0o644)
	b := &Builder{
		Mounts:  func(string) ([]string, error) { return []string{tree + "/dev"}, nil },
		Unmount: func(string) error { return nil }, // "succeeds" but the mount stays
	}
	err := b.removeTree(tree)
	if err == nil || !strings.Contains(err.Error(), "still mounted") {
		t.Fatalf("removeTree = %v, want refusal", err)
	}
	if _, err := os.Stat(filepath.Join(tree, "precious")); err != nil {
		t.Fatalf("deleted files under a mount: %v", err)
	}
}

// fakeCommands stands in for debootstrap, chroot and mkfs.ext4.
type fakeCommands struct {
	t       *testing.T
	calls   [][]string
	failOn  string
	rootfs  string
	imgSize int64
}

func (f *fakeCommands) run(ctx context.Context, name string, args ...string) error {
	f.calls = append(f.calls, append([]string{name}, args...))
	if name == f.failOn {
		return fmt.Errorf("%s: exit status 1", name)
	}
	switch name {
	case "debootstrap":
		f.rootfs = args[len(args)-2]
		rootfstest.Debian(f.t, f.rootfs)
	case "mkfs.ext4":
		path := args[len(args)-2]
		size, err := strconv.ParseInt(strings.TrimSuffix(args[len(args)-1], "M"), 10, 64)
		if err != nil {
			return err
		}
		fh, err := os.Create(path)
		if err != nil {
			return err
		}
		defer fh.Close()
		fh.WriteString("ext4-image")
		f.imgSize = size * mib
		return fh.Truncate(f.imgSize)
	}
	return nil
}

func TestBuildWithFakeCommands(t *testing.T) {
	spec := validSpec(t)
	spec.Packages = []string{"vim", "git"} // git is a default: not duplicated
	fc := &fakeCommands{t: t}
	var steps []string
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	b := &Builder{Run: fc.run, Now: func() time.Time { return created }}
	res, err := b.Build(context.Background(), spec, func(step string, done, total int) {
		steps = append(steps, fmt.Sprintf("%s %d/%d", step, done, total))
	})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}

	deb := fc.calls[0]
	wantPkgs := strings.Join(append(DefaultPackages(), "vim"), ",")
	wantDeb := []string{"debootstrap", "--variant=minbase", "--force-check-gpg", "--keyring=" + spec.Keyring, "--include=" + wantPkgs,
		"--cache-dir=" + spec.CacheDir, "bookworm", fc.rootfs, DefaultMirror}
	if !slices.Equal(deb, wantDeb) {
		t.Errorf("debootstrap call\n got %q\nwant %q", deb, wantDeb)
	}
	if !strings.HasPrefix(fc.rootfs, spec.WorkDir+"/") {
		t.Errorf("rootfs %s not under WorkDir", fc.rootfs)
	}
	mk := fc.calls[1]
	if !slices.Equal(mk[:7], []string{"mkfs.ext4", "-q", "-F", "-L", "banger-root", "-d", fc.rootfs}) {
		t.Errorf("mkfs call %q", mk)
	}
	if len(fc.calls) != 2 {
		t.Errorf("unexpected extra commands: %q", fc.calls[2:])
	}
	wantSteps := []string{"debootstrap 0/6", "debootstrap 1/6", "customize 1/6", "customize 2/6", "initramfs 2/6", "initramfs 3/6",
		"kernel 3/6", "kernel 4/6", "rootfs-image 4/6", "rootfs-image 5/6", "manifest 5/6", "manifest 6/6"}
	if !slices.Equal(steps, wantSteps) {
		t.Errorf("progress %q", steps)
	}

	if res.KernelVersion != "6.1.0-test" || res.RootfsBytes != fc.imgSize {
		t.Errorf("result %+v", res)
	}
	if res.Init != rootfs.AgentInit {
		t.Errorf("result init %q, want %q", res.Init, rootfs.AgentInit)
	}
	// banger's initramfs, not Debian's: the agent as /init and the modules.
	ird, err := os.ReadFile(res.Initrd)
	if err != nil || !bytes.HasPrefix(ird, []byte("070701")) ||
		!bytes.Contains(ird, []byte("lib/modules/banger/virtio_blk.ko\x00")) || !bytes.Contains(ird, []byte("ko:virtio_blk")) {
		t.Errorf("initrd is not banger's initramfs with virtio_blk (%d bytes, %v)", len(ird), err)
	}
	for p, want := range map[string]string{res.Kernel: "kernel"} {
		if b, err := os.ReadFile(p); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v", p, b, err)
		}
	}
	m, err := ReadManifest(filepath.Join(spec.OutDir, ManifestFile))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(res.Rootfs)
	sum := sha256.Sum256(data)
	if m.RootfsSHA256 != hex.EncodeToString(sum[:]) || m.RootfsBytes != fc.imgSize ||
		m.KernelVersion != "6.1.0-test" || m.Name != spec.Name || m.Suite != "bookworm" ||
		!m.Created.Equal(created) || !slices.Contains(m.Packages, "vim") {
		t.Errorf("manifest %+v", m)
	}
	entries, _ := os.ReadDir(spec.OutDir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{InitrdFile, ManifestFile, RootfsFile, KernelFile}) {
		t.Errorf("out dir holds %v", names)
	}
	if entries, _ := os.ReadDir(spec.WorkDir); len(entries) != 0 {
		t.Errorf("scratch left in WorkDir: %v", entries)
	}
}

func TestBuildFailureRollsBack(t *testing.T) {
	for _, preexisting := range []bool{false, true} {
		t.Run(fmt.Sprintf("outdir-existed=%v", preexisting), func(t *testing.T) {
			spec := validSpec(t)
			if preexisting {
				os.MkdirAll(spec.OutDir, 0o755)
			}
			fc := &fakeCommands{t: t, failOn: "mkfs.ext4"}
			_, err := (&Builder{Run: fc.run}).Build(context.Background(), spec, nil)
			if err == nil || !strings.Contains(err.Error(), "rootfs-image") {
				t.Fatalf("Build = %v, want rootfs-image failure", err)
			}
			entries, statErr := os.ReadDir(spec.OutDir)
			if preexisting {
				if statErr != nil || len(entries) != 0 {
					t.Fatalf("pre-existing out dir: %v entries, err %v", entries, statErr)
				}
			} else if !errors.Is(statErr, os.ErrNotExist) {
				t.Fatalf("out dir created by build not removed: %v", statErr)
			}
			if entries, _ := os.ReadDir(spec.WorkDir); len(entries) != 0 {
				t.Fatalf("scratch left in WorkDir: %v", entries)
			}
		})
	}
}

func TestBuildRejectsInvalidSpecWithoutRunning(t *testing.T) {
	spec := validSpec(t)
	spec.Name = "Bad Name"
	fc := &fakeCommands{t: t}
	if _, err := (&Builder{Run: fc.run}).Build(context.Background(), spec, nil); err == nil {
		t.Fatal("invalid spec accepted")
	}
	if len(fc.calls) != 0 {
		t.Fatalf("ran commands for an invalid spec: %q", fc.calls)
	}
	if _, err := os.Stat(spec.OutDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("out dir created for an invalid spec")
	}
}

// TestMakeImageRealMkfs packs a small tree with the real mkfs.ext4 and reads
// a file back with debugfs.
func TestMakeImageRealMkfs(t *testing.T) {
	for _, tool := range []string{"mkfs.ext4", "debugfs"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (apt-get install e2fsprogs)", tool)
		}
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/hostname"), []byte("banger\n"), 0o644)
	out, err := newOutDir(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := (&Builder{}).makeImage(context.Background(), root, out)
	if err != nil {
		t.Fatal(err)
	}
	used, _ := DiskUsage(root)
	if n != ImageSize(used) {
		t.Fatalf("image size %d, want %d", n, ImageSize(used))
	}
	img := out.file(RootfsFile)
	var st = mustStatBlocks(t, img)
	if st >= n/2 {
		t.Errorf("image not sparse: %d bytes allocated of %d", st, n)
	}
	cat, err := exec.Command("debugfs", "-R", "cat /etc/hostname", img).Output()
	if err != nil || string(cat) != "banger\n" {
		t.Fatalf("debugfs cat = %q, %v", cat, err)
	}
	label, err := exec.Command("e2label", img).Output()
	if err == nil && strings.TrimSpace(string(label)) != "banger-root" {
		t.Errorf("label %q", label)
	}
}

func mustStatBlocks(t *testing.T, path string) int64 {
	t.Helper()
	n, err := DiskUsage(path)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRealBuild runs debootstrap against the real mirror. Opt in with
// BANGER_GOLDEN_TEST=1; BANGER_GOLDEN_CACHE (default
// /var/cache/banger-dev/debootstrap), BANGER_GOLDEN_OUT (default a temp dir)
// and BANGER_GOLDEN_AGENT (default this test binary) adjust it.
func TestRealBuild(t *testing.T) {
	if os.Getenv("BANGER_GOLDEN_TEST") != "1" {
		t.Skip("real debootstrap build: set BANGER_GOLDEN_TEST=1 (needs root, debootstrap, network to the Debian mirror, ~2 GB)")
	}
	if os.Geteuid() != 0 {
		t.Skip("real build needs root for debootstrap and chroot")
	}
	env := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	self, _ := os.Executable()
	tmp := t.TempDir()
	spec := Spec{
		Name:        "debian-bookworm",
		Suite:       "bookworm",
		AgentBinary: env("BANGER_GOLDEN_AGENT", self),
		CacheDir:    env("BANGER_GOLDEN_CACHE", "/var/cache/banger-dev/debootstrap"),
		WorkDir:     env("BANGER_GOLDEN_WORK", filepath.Join(tmp, "work")),
		OutDir:      env("BANGER_GOLDEN_OUT", filepath.Join(tmp, "out")),
	}
	start := time.Now()
	b := &Builder{Log: testLog{t}}
	res, err := b.Build(context.Background(), spec, func(step string, done, total int) {
		t.Logf("[%6.1fs] %s %d/%d", time.Since(start).Seconds(), step, done, total)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built in %s: %+v", time.Since(start).Round(time.Second), res)
	if !strings.HasSuffix(res.KernelVersion, "-cloud-amd64") {
		t.Errorf("kernel version %q", res.KernelVersion)
	}
	for _, check := range []struct{ cmd, want string }{
		{"cat /etc/hostname", "banger\n"},
		{"cat /etc/machine-id", ""},
		{"cat /etc/ssh/sshd_config.d/banger.conf", "PermitRootLogin prohibit-password"},
	} {
		out, err := exec.Command("debugfs", "-R", check.cmd, res.Rootfs).Output()
		if err != nil || !strings.Contains(string(out), check.want) || (check.want == "" && len(out) != 0) {
			t.Errorf("debugfs %q = %q, %v", check.cmd, out, err)
		}
	}
	ls, _ := exec.Command("debugfs", "-R", "ls /etc/ssh", res.Rootfs).Output()
	if strings.Contains(string(ls), "ssh_host_") {
		t.Errorf("host keys in image: %s", ls)
	}
	ls, _ = exec.Command("debugfs", "-R", "ls /var/cache/apt/archives", res.Rootfs).Output()
	if strings.Contains(string(ls), ".deb") {
		t.Errorf(".debs in image: %s", ls)
	}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
