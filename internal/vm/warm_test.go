package vm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/agent"
	"banger/internal/vmm"
)

// keyBackend is a Snapshotter whose own key is fixed.
type keyBackend struct {
	vmm.Snapshotter
	key string
}

func (k keyBackend) SnapshotKey(context.Context, vmm.Config) (string, error) { return k.key, nil }

func TestTemplateKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		tmp := p + ".new"
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil { // as image installs do
			t.Fatal(err)
		}
		return p
	}
	cfg := vmm.Config{Kernel: write("vmlinuz", "k"), Initrd: write("initrd", "i"), VCPUs: 2, MemoryMiB: 1024,
		Disks: []vmm.Disk{{Path: write("rootfs.ext4", "r")}}}
	key := func(b vmm.Snapshotter, image string, c vmm.Config) string {
		k, err := TemplateKey(context.Background(), b, "qemu", image, c, 4<<30)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	b := keyBackend{key: "argv-1"}
	base := key(b, "img1", cfg)
	if again := key(b, "img1", cfg); again != base {
		t.Fatalf("key not stable: %s %s", base, again)
	}
	other := cfg
	other.VCPUs = 1
	if key(b, "img1", other) == base {
		t.Error("the shape does not change the key")
	}
	if key(b, "img2", cfg) == base {
		t.Error("the image id does not change the key")
	}
	if key(keyBackend{key: "argv-2"}, "img1", cfg) == base {
		t.Error("the backend's key does not change the key")
	}
	if k, err := TemplateKey(context.Background(), b, "qemu", "img1", cfg, 6<<30); err != nil || k == base {
		t.Errorf("the room on / does not change the key (%v)", err)
	}
	write("vmlinuz", "k") // same content, replaced: a rebuilt kernel
	if key(b, "img1", cfg) == base {
		t.Error("a replaced kernel does not change the key")
	}
	cfg.Disks[0].Path = filepath.Join(dir, "gone")
	if _, err := TemplateKey(context.Background(), b, "qemu", "img1", cfg, 4<<30); err == nil {
		t.Error("a missing rootfs gives a key")
	}
}

func TestTemplates(t *testing.T) {
	ts := Templates{Dir: filepath.Join(t.TempDir(), "templates")}
	if l, err := ts.List(); err != nil || len(l) != 0 {
		t.Fatalf("List with no dir = %v, %v", l, err)
	}
	mk := func(key, image string, created time.Time) Template {
		tp := Template{Key: key, ImageID: image, TemplateShape: TemplateShape{VCPUs: 2, MemoryMiB: 1024}, Created: created}
		if err := os.MkdirAll(ts.Path(key), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := ts.Save(tp); err != nil {
			t.Fatal(err)
		}
		return tp
	}
	now := time.Now()
	mk("a1", "img1", now.Add(-time.Hour))
	mk("b2", "img2", now)
	mk("c3", "img1", now.Add(-time.Minute))
	if err := os.MkdirAll(ts.Path("half-made"), 0o700); err != nil {
		t.Fatal(err)
	}
	l, err := ts.List()
	if err != nil || len(l) != 3 || l[0].Key != "b2" || l[2].Key != "a1" || l[0].Dir != ts.Path("b2") {
		t.Fatalf("List = %+v, %v; want b2, c3, a1 (newest first, the half-made one left out)", l, err)
	}
	mine, _ := ts.ForImage("img1")
	if len(mine) != 2 || mine[0].Key != "c3" || mine[1].Key != "a1" {
		t.Fatalf("ForImage(img1) = %+v", mine)
	}
	if _, err := ts.Get("half-made"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Get(half-made) = %v, want not exist", err)
	}
	err = ts.Delete("a1", []string{filepath.Join(ts.Path("a1"), "root.qcow2")})
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("Delete of a template a VM is over = %v, want ErrInUse", err)
	}
	if err := ts.Delete("a1", []string{filepath.Join(ts.Path("a10"), "root.qcow2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(ts.Path("a1")); !os.IsNotExist(err) {
		t.Fatalf("template dir still there: %v", err)
	}
	if err := ts.DeleteImage(context.Background(), "img1"); err != nil {
		t.Fatal(err)
	}
	if l, _ := ts.List(); len(l) != 1 || l[0].Key != "b2" {
		t.Fatalf("after deleting img1's templates: %+v, want only b2", l)
	}
}

func TestCloneConfigAndFits(t *testing.T) {
	tp := Template{TemplateShape: TemplateShape{VCPUs: 2, MemoryMiB: 1024}, Kernel: "/t/k", Initrd: "/t/i",
		Cmdline: templateCmdline(""), Disks: []vmm.Disk{{Path: "/t/root.qcow2"}, {Path: "/t/work.ext4"}}, NICs: 1}
	cfg := vmm.Config{ID: "v1", Kernel: "/img/k", Cmdline: "banger.ip=10.0.0.2/24", VCPUs: 2, MemoryMiB: 1024,
		Disks: []vmm.Disk{{Path: "/v/root.qcow2"}, {Path: "/v/work.ext4"}}, NICs: []vmm.NIC{{Tap: "tap1"}}}
	if why := tp.fits(cfg); why != "" {
		t.Fatalf("fits = %q", why)
	}
	c := cloneConfig(tp, cfg, []vmm.Disk{{Path: "/v/clone.qcow2"}, {Path: "/v/work.ext4"}})
	if c.Kernel != "/t/k" || c.Initrd != "/t/i" || c.Cmdline != tp.Cmdline || c.Disks[0].Path != "/v/clone.qcow2" || c.ID != "v1" || c.NICs[0].Tap != "tap1" {
		t.Fatalf("cloneConfig = %+v", c)
	}
	if !strings.Contains(c.Cmdline, "banger.work=none") {
		t.Fatalf("template command line %q leaves the work disk to be mounted", c.Cmdline)
	}
	cfg.MemoryMiB = 2048
	if why := tp.fits(cfg); !strings.Contains(why, "1024 MiB") {
		t.Fatalf("fits with another shape = %q", why)
	}
}

func TestNewIdentity(t *testing.T) {
	a, err := newIdentity(agent.NetConfig{Hostname: "a"}, "52:54:00:00:00:01", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := newIdentity(agent.NetConfig{Hostname: "b"}, "52:54:00:00:00:02", 1<<30)
	if len(a.MachineID) != 32 || strings.Trim(a.MachineID, "0123456789abcdef") != "" || a.MachineID == b.MachineID {
		t.Fatalf("machine-ids %q %q", a.MachineID, b.MachineID)
	}
	if len(a.Entropy) < 32 || string(a.Entropy) == string(b.Entropy) {
		t.Fatal("entropy missing or shared")
	}
	if time.Since(a.Time) > time.Minute || a.WorkDevice != "/dev/vdb" || a.WorkSize != 1<<30 {
		t.Fatalf("identity = %+v", a)
	}
}
