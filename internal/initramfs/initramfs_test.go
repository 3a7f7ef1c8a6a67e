package initramfs

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

type entry struct {
	name         string
	mode         uint32
	major, minor uint32
	data         string
}

// parse reads a newc archive back, checking its framing.
func parse(t *testing.T, b []byte) []entry {
	t.Helper()
	if len(b)%512 != 0 {
		t.Errorf("archive is %d bytes, not a multiple of 512", len(b))
	}
	var out []entry
	off := 0
	field := func(i int) uint32 {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+14+8*i]), 16, 32)
		if err != nil {
			t.Fatalf("field %d at %d: %v", i, off, err)
		}
		return uint32(v)
	}
	align := func(n int) int { return (n + 3) &^ 3 }
	for {
		if string(b[off:off+6]) != "070701" {
			t.Fatalf("bad magic at %d: %q", off, b[off:off+6])
		}
		mode, size, maj, min, nameLen := field(1), int(field(6)), field(9), field(10), int(field(11))
		name := string(b[off+110 : off+110+nameLen-1])
		data := align(off + 110 + nameLen)
		if name == "TRAILER!!!" {
			return out
		}
		out = append(out, entry{name, mode, maj, min, string(b[data : data+size])})
		off = align(data + size)
	}
}

// modTree writes a modules dir: a needs b, b needs c (modules.dep lists
// the whole chain), d is built in.
func modTree(t *testing.T) string {
	dir := t.TempDir()
	files := map[string]string{
		"modules.dep":     "kernel/a-mod.ko: kernel/x/b.ko kernel/c.ko\nkernel/x/b.ko: kernel/c.ko\nkernel/c.ko:\nkernel/z.ko.xz:\n",
		"modules.builtin": "kernel/fs/d.ko\n",
		"kernel/a-mod.ko": "A", "kernel/x/b.ko": "B", "kernel/c.ko": "C", "kernel/z.ko.xz": "Z",
	}
	for n, c := range files {
		p := filepath.Join(dir, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBuildHoldsInitAndModulesInLoadOrder(t *testing.T) {
	dir := modTree(t)
	init := filepath.Join(t.TempDir(), "agent")
	os.WriteFile(init, []byte("#!agent"), 0o755)
	var buf bytes.Buffer
	if err := Build(&buf, Spec{Init: init, ModulesDir: dir, Modules: []string{"a_mod", "d", "c"}}); err != nil {
		t.Fatal(err)
	}
	got := map[string]entry{}
	for _, e := range parse(t, buf.Bytes()) {
		got[e.name] = e
	}
	if e := got["init"]; e.data != "#!agent" || e.mode != modeFile|0o755 {
		t.Errorf("init = %+v", e)
	}
	if e := got["dev/console"]; e.mode != modeChar|0o600 || e.major != 5 || e.minor != 1 {
		t.Errorf("dev/console = %+v", e)
	}
	for _, d := range []string{"proc", "sys", "newroot"} {
		if got[d].mode&modeDir == 0 {
			t.Errorf("no dir %s", d)
		}
	}
	if order := got["lib/modules/banger/load.order"].data; order != "c.ko\nb.ko\na-mod.ko\n" {
		t.Errorf("load order %q, want dependencies first", order)
	}
	if got["lib/modules/banger/b.ko"].data != "B" {
		t.Errorf("b.ko = %q", got["lib/modules/banger/b.ko"].data)
	}
}

func TestBuildRefusesUnknownAndCompressedModules(t *testing.T) {
	dir := modTree(t)
	init := filepath.Join(t.TempDir(), "agent")
	os.WriteFile(init, nil, 0o755)
	for mod, want := range map[string]string{"nope": "not in modules.dep", "z": "compressed"} {
		err := Build(&bytes.Buffer{}, Spec{Init: init, ModulesDir: dir, Modules: []string{mod}})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("module %s: err %v, want %q", mod, err, want)
		}
	}
	if err := Build(&bytes.Buffer{}, Spec{Init: dir, ModulesDir: dir}); err == nil {
		t.Error("a directory as init was accepted")
	}
}

func TestParseCmdline(t *testing.T) {
	b, err := ParseCmdline("console=ttyS0 root=/dev/vda rw init=/usr/local/bin/banger-agent quiet")
	if err != nil || b.Root != "/dev/vda" || b.Init != "/usr/local/bin/banger-agent" || b.ReadOnly || b.FSType != "ext4" {
		t.Errorf("got %+v, %v", b, err)
	}
	b, err = ParseCmdline("root=/dev/vdb ro rootfstype=xfs rootflags=noatime")
	if err != nil || b.Init != "/sbin/init" || !b.ReadOnly || b.FSType != "xfs" || b.Flags != "noatime" {
		t.Errorf("got %+v, %v", b, err)
	}
	for _, bad := range []string{"quiet", "root=LABEL=x", "root=/dev/../etc/x", "root=/dev/vda init=sh"} {
		if _, err := ParseCmdline(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestReadModuleList(t *testing.T) {
	got, err := ReadModuleList(strings.NewReader("# comment\nvirtio_blk\n\n  ext4 opt=1\n"))
	if err != nil || !slices.Equal(got, []string{"virtio_blk", "ext4"}) {
		t.Errorf("got %q, %v", got, err)
	}
}
