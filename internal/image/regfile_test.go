package image

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"banger/internal/image/imagetest"
	"banger/internal/store"
)

// registerInPlace records files as an older banger's Register did: rows
// that point at the user's files, unmanaged.
func registerInPlace(t *testing.T, s *Service, name, rootfs, kernel, initrd string) (store.Image, store.Kernel) {
	t.Helper()
	ctx := context.Background()
	k, err := s.Store.CreateKernel(ctx, store.Kernel{Name: name + "-kernel", Path: kernel, Initrd: initrd, Version: kernelVersion(kernel)})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(rootfs)
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Store.CreateImage(ctx, store.Image{Name: name, Rootfs: rootfs, KernelID: k.ID, SizeBytes: fi.Size(), Source: rootfs})
	if err != nil {
		t.Fatal(err)
	}
	return img, k
}

// userFiles are the files a user registers, and what they hold.
type userFiles struct {
	rootfs, kernel, initrd string
	content                map[string][]byte
}

func newUserFiles(t *testing.T) userFiles {
	src := t.TempDir()
	u := userFiles{
		rootfs:  filepath.Join(src, "my.ext4"),
		kernel:  filepath.Join(src, "vmlinuz"),
		initrd:  filepath.Join(src, "initrd.img"),
		content: map[string][]byte{},
	}
	for p, data := range map[string][]byte{u.rootfs: imagetest.Ext4(), u.kernel: imagetest.BzImage("6.1.0-test"), u.initrd: []byte("initrd")} {
		imagetest.WriteFile(t, p, data)
		u.content[p] = data
	}
	return u
}

// swaps replace a registered file by something else: what an attacker who
// owns the original can do after registering it.
var swaps = []struct {
	name string
	do   func(t *testing.T, p string)
}{
	{"symlink to another file", func(t *testing.T, p string) {
		secret := imagetest.WriteFile(t, filepath.Join(t.TempDir(), "secret"), bytes.Repeat([]byte("secret"), 1<<20))
		replace(t, p, func(tmp string) error { return os.Symlink(secret, tmp) })
	}},
	{"symlink to a device", func(t *testing.T, p string) {
		replace(t, p, func(tmp string) error { return os.Symlink("/dev/zero", tmp) })
	}},
	{"device node", func(t *testing.T, p string) {
		replace(t, p, func(tmp string) error {
			err := syscall.Mknod(tmp, syscall.S_IFCHR|0o600, 1<<8|5) // 1:5, /dev/zero
			if errors.Is(err, syscall.EPERM) {
				t.Skip("making a device node needs CAP_MKNOD (root); the symlink cases still run")
			}
			return err
		})
	}},
	{"fifo", func(t *testing.T, p string) {
		replace(t, p, func(tmp string) error { return syscall.Mkfifo(tmp, 0o600) })
	}},
}

// replace puts what mk makes at p in one rename, as an attacker would.
func replace(t *testing.T, p string, mk func(tmp string) error) {
	t.Helper()
	tmp := p + ".swap"
	if err := mk(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
}

// assertOwnCopy checks that p is a regular file under dir (banger's own)
// holding want.
func assertOwnCopy(t *testing.T, what, p, dir string, want []byte) {
	t.Helper()
	if !strings.HasPrefix(p, dir+"/") {
		t.Errorf("%s %s is not under banger's %s", what, p, dir)
	}
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatalf("%s %s: %v", what, p, err)
	}
	if !fi.Mode().IsRegular() {
		t.Fatalf("%s %s is a %v, not a regular file", what, p, fi.Mode().Type())
	}
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s %s does not hold what was registered (%v)", what, p, err)
	}
}

// TestSwappedSourceHasNoEffect: once registered, replacing the user's
// files by a symlink, a device or a FIFO changes nothing that banger uses:
// Ensure (what VM create calls) and Get (what VM start calls) give
// banger's own copies, holding what was registered.
func TestSwappedSourceHasNoEffect(t *testing.T) {
	for _, sw := range swaps {
		t.Run(sw.name, func(t *testing.T) {
			ctx := context.Background()
			s := newTestService(t)
			u := newUserFiles(t)
			if _, err := s.Register(ctx, RegisterRequest{Name: "mine", Rootfs: u.rootfs, Kernel: u.kernel, Initrd: u.initrd}); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{u.rootfs, u.kernel, u.initrd} {
				sw.do(t, p)
			}
			for what, use := range map[string]func() (Resolved, error){
				"ensure": func() (Resolved, error) { return s.Ensure(ctx, "mine", nil) },
				"get":    func() (Resolved, error) { return s.Get(ctx, "mine") },
			} {
				r, err := use()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				assertOwnCopy(t, what+" rootfs", r.Image.Rootfs, s.ImagesDir, u.content[u.rootfs])
				assertOwnCopy(t, what+" kernel", r.Kernel.Path, s.KernelsDir, u.content[u.kernel])
				assertOwnCopy(t, what+" initrd", r.Kernel.Initrd, s.KernelsDir, u.content[u.initrd])
			}
		})
	}
}

// TestRegisterRefusesNonRegular: a rootfs, kernel or initrd that is not a
// regular file is refused, a FIFO without a writer included, without
// blocking on it.
func TestRegisterRefusesNonRegular(t *testing.T) {
	for _, sw := range swaps {
		if !strings.HasPrefix(sw.name, "device") && sw.name != "fifo" {
			continue // a symlink to a regular file is the user's choice at registration
		}
		for _, which := range []string{"rootfs", "kernel", "initrd"} {
			t.Run(sw.name+"/"+which, func(t *testing.T) {
				s := newTestService(t)
				u := newUserFiles(t)
				p := map[string]string{"rootfs": u.rootfs, "kernel": u.kernel, "initrd": u.initrd}[which]
				sw.do(t, p)
				err := orUnblock(t, p, func() error {
					_, err := s.Register(context.Background(), RegisterRequest{Name: "mine", Rootfs: u.rootfs, Kernel: u.kernel, Initrd: u.initrd})
					return err
				})
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not a regular file") {
					t.Fatalf("Register = %v, want ErrInvalid: not a regular file", err)
				}
				emptyDir(t, s.ImagesDir)
				emptyDir(t, s.KernelsDir)
			})
		}
	}
}

// orUnblock runs fn; if it is still blocked after a minute (opening a FIFO
// without a writer blocks for ever), it fails the test and opens the FIFO
// for writing, which releases fn. The minute is a hang guard, not a
// measure.
func orUnblock(t *testing.T, fifo string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Errorf("blocked opening %s", fifo)
		if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			w.Close()
		}
		return <-done
	}
}

// TestInPlaceImageRechecked: an image an older banger registered in place
// is checked at every use: a symlink, a device, a FIFO or a rootfs of
// another size is refused, by Get and by Promote.
func TestInPlaceImageRechecked(t *testing.T) {
	for _, sw := range append(swaps, struct {
		name string
		do   func(t *testing.T, p string)
	}{"regular file of another size", func(t *testing.T, p string) {
		replace(t, p, func(tmp string) error { return os.WriteFile(tmp, []byte("other"), 0o644) })
	}}) {
		for _, which := range []string{"rootfs", "kernel", "initrd"} {
			if sw.name == "regular file of another size" && which != "rootfs" {
				continue // only the rootfs's size is recorded
			}
			t.Run(sw.name+"/"+which, func(t *testing.T) {
				ctx := context.Background()
				s := newTestService(t)
				u := newUserFiles(t)
				registerInPlace(t, s, "mine", u.rootfs, u.kernel, u.initrd)
				if _, err := s.Get(ctx, "mine"); err != nil {
					t.Fatalf("Get before the swap: %v", err)
				}
				p := map[string]string{"rootfs": u.rootfs, "kernel": u.kernel, "initrd": u.initrd}[which]
				sw.do(t, p)
				if r, err := s.Get(ctx, "mine"); err == nil || !strings.Contains(err.Error(), "no longer what was registered") {
					t.Errorf("Get after the swap = %+v, %v; want it refused", r, err)
				}
				err := orUnblock(t, p, func() error { _, err := s.Promote(ctx, "mine", nil); return err })
				if err == nil || !strings.Contains(err.Error(), "no longer what was registered") {
					t.Errorf("Promote after the swap = %v, want it refused", err)
				}
				emptyDir(t, s.ImagesDir)
			})
		}
	}
}
