package vm_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"banger/internal/image"
	"banger/internal/image/imagetest"
	"banger/internal/vm"
	"banger/internal/vm/vmtest"
	"banger/internal/vmm"
)

// TestRegisteredFilesSwappedHaveNoEffect: a user registers a rootfs, a
// kernel and an initrd, then swaps each for a symlink to a file they may
// not read, or to a device, or for a FIFO. What the VMM is given, at create
// and at a later start, is banger's own copy of what was registered.
func TestRegisteredFilesSwappedHaveNoEffect(t *testing.T) {
	e := vmtest.New(t)
	src := t.TempDir()
	want := map[string][]byte{"rootfs": imagetest.Ext4(), "kernel": imagetest.BzImage("6.1.0-test"), "initrd": []byte("initrd")}
	files := map[string]string{}
	for what, data := range want {
		files[what] = imagetest.WriteFile(t, filepath.Join(src, what), data)
	}
	if _, err := e.Images.Register(ctx, image.RegisterRequest{Name: "mine", Rootfs: files["rootfs"], Kernel: files["kernel"], Initrd: files["initrd"]}); err != nil {
		t.Fatal(err)
	}
	secret := imagetest.WriteFile(t, filepath.Join(t.TempDir(), "shadow"), []byte("root:$6$secret"))
	swapAll := func(mk func(tmp string) error) {
		t.Helper()
		for _, p := range files {
			if err := mk(p + ".swap"); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(p+".swap", p); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(when string, c vmm.Config, root string) {
		t.Helper()
		for what, p := range map[string]string{"rootfs": root, "kernel": c.Kernel, "initrd": c.Initrd} {
			if strings.HasPrefix(p, src+"/") || !strings.HasPrefix(p, e.Dir+"/") {
				t.Errorf("%s: the VMM's %s is %s, not banger's own copy", when, what, p)
			}
			fi, err := os.Lstat(p)
			if err != nil || !fi.Mode().IsRegular() {
				t.Errorf("%s: the VMM's %s %s: %v, want a regular file", when, what, p, modeOrErr(fi, err))
				continue
			}
			if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, want[what]) {
				t.Errorf("%s: the VMM's %s %s does not hold what was registered (%v)", when, what, p, err)
			}
		}
	}

	swapAll(func(tmp string) error {
		if strings.Contains(tmp, "kernel") {
			return os.Symlink("/dev/zero", tmp)
		}
		return os.Symlink(secret, tmp)
	})
	in := create(t, e, vm.CreateRequest{Name: "reg", Image: "mine"})
	root := filepath.Join(e.VMDir(in.ID), vmtest.RootDiskName)
	check("create", e.VMM.Starts()[0], e.VMM.RootImage(root))

	if _, err := e.Service.Stop(ctx, "reg", nil); err != nil {
		t.Fatal(err)
	}
	swapAll(func(tmp string) error { return syscall.Mkfifo(tmp, 0o600) })
	if _, err := e.Service.Start(ctx, "reg", nil); err != nil {
		t.Fatal(err)
	}
	starts := e.VMM.Starts()
	check("start", starts[len(starts)-1], e.VMM.RootImage(root))
}

func modeOrErr(fi os.FileInfo, err error) any {
	if err != nil {
		return err
	}
	return fi.Mode()
}
