// Package golden builds the Debian "golden" image every banger VM boots from:
// a debootstrapped rootfs customised for banger (agent, SSH, fstab, fast
// boot), packed into an ext4 file, plus the kernel and initrd taken out of it.
package golden

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"banger/internal/image/imageref"
	"banger/internal/limit"
	"banger/internal/rootfs"
)

// DefaultMirror is used when Spec.Mirror is empty. HTTPS keeps what is
// fetched private; its integrity comes from the signatures debootstrap
// checks (see DefaultKeyring).
const DefaultMirror = "https://deb.debian.org/debian"

// DefaultSuite is used when Spec.Suite is empty.
const DefaultSuite = "bookworm"

// Output file names inside Spec.OutDir.
const (
	RootfsFile   = "rootfs.ext4"
	KernelFile   = "vmlinuz"
	InitrdFile   = "initrd.img"
	ManifestFile = "manifest.json"
)

// Spec describes one golden image build.
type Spec struct {
	Name        string   // e.g. "debian-bookworm"
	Suite       string   // "bookworm"; default DefaultSuite
	Mirror      string   // default DefaultMirror
	Keyring     string   // keyring debootstrap checks the archive with; default DefaultKeyring
	Packages    []string // extra packages; DefaultPackages are always included
	AgentBinary string   // host path of the static banger-agent binary to install in the image
	CacheDir    string   // persistent cache dir for downloaded .debs, shared across builds
	WorkDir     string   // scratch dir; the rootfs tree is built under it and removed afterwards
	OutDir      string   // must not exist yet or be empty; receives the outputs
}

// Result names the files a successful build wrote.
type Result struct {
	Rootfs        string
	Kernel        string
	Initrd        string
	Manifest      string
	KernelVersion string
	RootfsBytes   int64  // apparent size of rootfs.ext4
	Init          string // the init its VMs boot: rootfs.AgentInit
}

// Progress reports step-level progress. It is called when a step starts
// (done = steps finished before it) and when it finishes (done includes it),
// e.g. ("debootstrap", 0, 6) then ("debootstrap", 1, 6).
type Progress func(step string, done, total int)

// Builder builds golden images. The zero value runs real commands and
// discards their output.
type Builder struct {
	// Run runs an external command. Default: exec with output to Log.
	Run func(ctx context.Context, name string, args ...string) error
	// Log receives the output of the commands run by the default Run.
	Log io.Writer
	// Now returns the time recorded in the manifest. Default time.Now.
	Now func() time.Time
	// Mounts lists the mount points currently under a directory; cleanup
	// unmounts them before deleting a rootfs. Default reads /proc/self/mountinfo.
	Mounts func(dir string) ([]string, error)
	// Unmount detaches one mount point. Default umount2(MNT_DETACH).
	Unmount func(path string) error
}

var (
	suiteRE   = regexp.MustCompile(`^[a-z]+$`)
	packageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
)

// DefaultPackages returns the packages every golden image contains.
func DefaultPackages() []string {
	return []string{
		"systemd", "systemd-sysv", "dbus", "udev", "openssh-server",
		"linux-image-cloud-amd64", "initramfs-tools", "git", "curl",
		"ca-certificates", "sudo", "iproute2", "procps", "less",
	}
}

// packageList returns DefaultPackages plus extra, without duplicates, in order.
func packageList(extra []string) []string {
	pkgs := DefaultPackages()
	for _, p := range extra {
		if !slices.Contains(pkgs, p) {
			pkgs = append(pkgs, p)
		}
	}
	return pkgs
}

// withDefaults returns spec with empty optional fields filled in.
func withDefaults(spec Spec) Spec {
	if spec.Suite == "" {
		spec.Suite = DefaultSuite
	}
	if spec.Mirror == "" {
		spec.Mirror = DefaultMirror
	}
	if spec.Keyring == "" {
		spec.Keyring = DefaultKeyring
	}
	return spec
}

// Validate checks spec (after defaults are applied) and returns the first
// problem found.
func (spec Spec) Validate() error {
	spec = withDefaults(spec)
	if !imageref.ValidName(spec.Name) {
		return fmt.Errorf("invalid image name %q: must match %s", spec.Name, imageref.NamePattern)
	}
	if !suiteRE.MatchString(spec.Suite) {
		return fmt.Errorf("invalid suite %q: only lower-case letters allowed", spec.Suite)
	}
	u, err := url.Parse(spec.Mirror)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid mirror %q: must be an http(s) URL", spec.Mirror)
	}
	if err := checkKeyring(spec.Keyring); err != nil {
		return err
	}
	for _, p := range spec.Packages {
		if !packageRE.MatchString(p) {
			return fmt.Errorf("invalid package name %q", p)
		}
	}
	for _, d := range []struct{ field, path string }{
		{"AgentBinary", spec.AgentBinary},
		{"CacheDir", spec.CacheDir},
		{"WorkDir", spec.WorkDir},
		{"OutDir", spec.OutDir},
	} {
		if d.path == "" || !filepath.IsAbs(d.path) {
			return fmt.Errorf("%s must be an absolute path, got %q", d.field, d.path)
		}
		if filepath.Clean(d.path) == "/" {
			return fmt.Errorf("%s must not be /", d.field)
		}
	}
	fi, err := os.Stat(spec.AgentBinary)
	if err != nil {
		return fmt.Errorf("checking agent binary: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("agent binary %s is not a regular file", spec.AgentBinary)
	}
	if fi, err := os.Stat(spec.OutDir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("output dir %s exists and is not a directory", spec.OutDir)
		}
		entries, err := os.ReadDir(spec.OutDir)
		if err != nil {
			return fmt.Errorf("reading output dir: %w", err)
		}
		if len(entries) > 0 {
			return fmt.Errorf("output dir %s is not empty", spec.OutDir)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("checking output dir: %w", err)
	}
	return nil
}

// Build debootstraps, customises and packs a golden image into spec.OutDir.
// On failure nothing is left in OutDir and the scratch rootfs is removed.
func (b *Builder) Build(ctx context.Context, spec Spec, progress Progress) (res Result, err error) {
	spec = withDefaults(spec)
	if err := spec.Validate(); err != nil {
		return Result{}, err
	}
	if progress == nil {
		progress = func(string, int, int) {}
	}
	scratch, err := makeScratch(spec)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		if cerr := b.removeTree(scratch); cerr != nil {
			err = errors.Join(err, fmt.Errorf("removing scratch rootfs: %w", cerr))
		}
	}()
	out, err := newOutDir(spec.OutDir)
	if err != nil {
		return Result{}, err
	}
	defer func() {
		if err != nil {
			if rerr := out.rollback(); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	steps := b.steps(ctx, spec, filepath.Join(scratch, "rootfs"), out, &res)
	for i, s := range steps {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		progress(s.name, i, len(steps))
		if err := s.fn(); err != nil {
			return Result{}, fmt.Errorf("building image %s: %s: %w", spec.Name, s.name, err)
		}
		progress(s.name, i+1, len(steps))
	}
	res.Rootfs = filepath.Join(spec.OutDir, RootfsFile)
	res.Kernel = filepath.Join(spec.OutDir, KernelFile)
	res.Initrd = filepath.Join(spec.OutDir, InitrdFile)
	res.Manifest = filepath.Join(spec.OutDir, ManifestFile)
	res.Init = rootfs.AgentInit
	return res, nil
}

// makeScratch makes the cache and work dirs and a fresh scratch dir in the
// work dir.
func makeScratch(spec Spec) (string, error) {
	if err := os.MkdirAll(spec.CacheDir, 0o755); err != nil {
		return "", fmt.Errorf("creating cache dir: %w", err)
	}
	if err := os.MkdirAll(spec.WorkDir, 0o755); err != nil {
		return "", fmt.Errorf("creating work dir: %w", err)
	}
	scratch, err := os.MkdirTemp(spec.WorkDir, spec.Name+"-")
	if err != nil {
		return "", fmt.Errorf("creating scratch dir: %w", err)
	}
	return scratch, nil
}

// buildStep is one named step of a build.
type buildStep struct {
	name string
	fn   func() error
}

// steps are the steps of a build of the tree at tree into out; they fill
// in res as they go.
func (b *Builder) steps(ctx context.Context, spec Spec, tree string, out *outDir, res *Result) []buildStep {
	now := b.Now
	if now == nil {
		now = time.Now
	}
	pkgs := packageList(spec.Packages)
	return []buildStep{
		{"debootstrap", func() error {
			args := append([]string{"--variant=minbase"}, verifyArgs(spec.Keyring)...)
			args = append(args, "--include="+strings.Join(pkgs, ","), "--cache-dir="+spec.CacheDir,
				spec.Suite, tree, spec.Mirror)
			return b.run(ctx, "debootstrap", args...)
		}},
		{"customize", func() error { return rootfs.Customize(tree, spec.AgentBinary) }},
		{"initramfs", func() error { return bootAgent(tree, spec.AgentBinary) }},
		{"kernel", func() error {
			kv, err := extractKernel(tree, out)
			res.KernelVersion = kv
			return err
		}},
		{"rootfs-image", func() error {
			n, err := b.makeImage(ctx, tree, out)
			res.RootfsBytes = n
			return err
		}},
		{"manifest", func() error {
			return writeManifest(out, spec, pkgs, res.KernelVersion, now())
		}},
	}
}

func (b *Builder) run(ctx context.Context, name string, args ...string) error {
	if b.Run != nil {
		return b.Run(ctx, name, args...)
	}
	return execRun(ctx, b.Log, name, args...)
}

// execRun runs name with args, streaming output to log and quoting the tail
// of it in the error.
func execRun(ctx context.Context, log io.Writer, name string, args ...string) error {
	if log == nil {
		log = io.Discard
	}
	tail := &limit.Tail{Max: tailMax}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout = io.MultiWriter(log, tail)
	cmd.Stderr = cmd.Stdout
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(tail.String())
		if msg != "" {
			return fmt.Errorf("running %s: %w: %s", name, err, msg)
		}
		return fmt.Errorf("running %s: %w", name, err)
	}
	return nil
}

// tailMax is how much of a failed tool's output its error quotes.
const tailMax = 2048
