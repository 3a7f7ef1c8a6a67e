package qemu

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"banger/internal/vmm"
)

func snapConfig(id string) vmm.Config {
	return vmm.Config{
		ID: id, Kernel: "/k/vmlinuz", Initrd: "/k/initrd", Cmdline: "console=ttyS0 root=/dev/vda",
		Disks:     []vmm.Disk{{Path: "/vms/" + id + "/root.qcow2", Format: "qcow2"}, {Path: "/vms/" + id + "/work.ext4", Format: "raw"}},
		NICs:      []vmm.NIC{{Tap: "tap-" + id, MAC: "52:54:00:00:00:0" + id[len(id)-1:]}},
		VCPUs:     2,
		MemoryMiB: 1024,
		Dir:       "/run/" + id, ConsoleLog: "/log/" + id, AgentSocket: "/run/" + id + "/agent.sock", GuestCID: 7,
	}
}

func TestTemplateAndRestoreArgs(t *testing.T) {
	cfg := snapConfig("vm1")
	tpl := TemplateArgs(cfg, "/state/templates/k1")
	want := []string{
		"-object", "memory-backend-file,id=mem,size=1024M,mem-path=/state/templates/k1/mem,share=on",
		"-machine", "memory-backend=mem",
	}
	if !slices.Equal(tpl, want) {
		t.Errorf("TemplateArgs = %q, want %q", tpl, want)
	}
	res := RestoreArgs(cfg, "/state/templates/k1")
	want = []string{
		"-object", "memory-backend-file,id=mem,size=1024M,mem-path=/state/templates/k1/mem,share=off",
		"-machine", "memory-backend=mem",
		"-incoming", "defer",
	}
	if !slices.Equal(res, want) {
		t.Errorf("RestoreArgs = %q, want %q", res, want)
	}
	if got := TemplateArgs(cfg, "/a,b"); !strings.Contains(got[1], "mem-path=/a,,b/mem,") {
		t.Errorf("comma in the template path not escaped: %q", got[1])
	}
}

func TestSnapshotKey(t *testing.T) {
	key := func(cfg vmm.Config, mods ...func(*string, *string, *int)) string {
		bin, accel, tsc := "/usr/bin/qemu-system-x86_64", "tcg", 2596126
		for _, m := range mods {
			m(&bin, &accel, &tsc)
		}
		return snapshotKey(bin, "QEMU emulator version 7.2.22\n", accel, tsc, cfg)
	}
	a, b := key(snapConfig("vm1")), key(snapConfig("vm2"))
	if a != b {
		t.Fatalf("two VMs of one machine have different keys: %s %s", a, b)
	}
	changed := map[string]string{
		"memory":  key(func() vmm.Config { c := snapConfig("vm1"); c.MemoryMiB = 2048; return c }()),
		"vcpus":   key(func() vmm.Config { c := snapConfig("vm1"); c.VCPUs = 1; return c }()),
		"kernel":  key(func() vmm.Config { c := snapConfig("vm1"); c.Kernel = "/k2/vmlinuz"; return c }()),
		"cmdline": key(func() vmm.Config { c := snapConfig("vm1"); c.Cmdline += " quiet"; return c }()),
		"disks":   key(func() vmm.Config { c := snapConfig("vm1"); c.Disks = c.Disks[:1]; return c }()),
		"binary":  key(snapConfig("vm1"), func(b, _ *string, _ *int) { *b = "/opt/qemu" }),
		"accel":   key(snapConfig("vm1"), func(_, a *string, _ *int) { *a = "kvm" }),
		"tsc":     key(snapConfig("vm1"), func(_, _ *string, k *int) { *k = 1000000 }),
		"version": snapshotKey("/usr/bin/qemu-system-x86_64", "QEMU emulator version 8.0\n", "tcg", 2596126, snapConfig("vm1")),
	}
	for what, k := range changed {
		if k == a {
			t.Errorf("changing the %s keeps the key", what)
		}
	}
}

// migrationFake answers the QMP commands of a save or a restore; the
// migration reports "active" twice before completing.
func migrationFake(t *testing.T, capsErr bool) *fakeQMP {
	polls := 0
	return startFakeQMP(t, greeting, func(cmd map[string]any) []string {
		switch cmd["execute"] {
		case "migrate-set-capabilities":
			if capsErr {
				id, _ := json.Marshal(cmd["id"])
				return []string{`{"error": {"class": "GenericError", "desc": "Capability 'x-ignore-shared' not found"}, "id": ` + string(id) + `}`}
			}
		case "query-migrate":
			if polls++; polls < 3 {
				return []string{reply(cmd, `{"status": "active"}`)}
			}
			return []string{reply(cmd, `{"status": "completed"}`)}
		}
		return []string{reply(cmd, "{}")}
	})
}

// dialFake connects to f; the connection and the 5 s context end with
// the test.
func dialFake(t *testing.T, f *fakeQMP) (context.Context, *QMPClient) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	c, err := DialQMP(ctx, f.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return ctx, c
}

// sequence drains what the fake received: command names, with their
// arguments. The fake queues each command before it replies, so once the
// caller has its last reply every command is queued.
func sequence(f *fakeQMP) []string {
	var got []string
	for {
		select {
		case cmd := <-f.received:
			s, _ := cmd["execute"].(string)
			if args, ok := cmd["arguments"]; ok {
				b, _ := json.Marshal(args)
				s += " " + string(b)
			}
			got = append(got, s)
		default:
			return got
		}
	}
}

func TestSaveStateSequence(t *testing.T) {
	for _, tc := range []struct {
		name     string
		capsErr  bool
		wantMode string
	}{{"ignore-shared", false, ModeIgnoreShared}, {"stream fallback", true, ModeStream}} {
		t.Run(tc.name, func(t *testing.T) {
			f := migrationFake(t, tc.capsErr)
			ctx, c := dialFake(t, f)
			path := filepath.Join(t.TempDir(), "state")
			mode, err := saveState(ctx, c, path)
			if err != nil || mode != tc.wantMode {
				t.Fatalf("saveState = %q, %v; want %q", mode, err, tc.wantMode)
			}
			want := []string{
				"qmp_capabilities", "stop",
				`migrate-set-capabilities {"capabilities":[{"capability":"x-ignore-shared","state":true}]}`,
				`getfd {"fdname":"banger-state"}`,
				`migrate {"uri":"fd:banger-state"}`,
				"query-migrate", "query-migrate", "query-migrate",
			}
			if got := sequence(f); !slices.Equal(got, want) {
				t.Errorf("sequence:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			// QEMU writes the stream through the descriptor it was given.
			passed := <-f.files
			defer passed.Close()
			if _, err := passed.WriteString("stream"); err != nil {
				t.Fatalf("write through the passed descriptor: %v", err)
			}
			if b, _ := os.ReadFile(path); string(b) != "stream" {
				t.Errorf("state file holds %q, want what was written through the descriptor", b)
			}
			if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
				t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
			}
		})
	}
}

func TestLoadStateSequence(t *testing.T) {
	for _, mode := range []string{ModeIgnoreShared, ModeStream} {
		t.Run(mode, func(t *testing.T) {
			f := migrationFake(t, false)
			ctx, c := dialFake(t, f)
			path := filepath.Join(t.TempDir(), "state")
			writeFile(t, path, "saved stream")
			if err := loadState(ctx, c, path, mode); err != nil {
				t.Fatalf("loadState: %v", err)
			}
			passed := <-f.files
			defer passed.Close()
			if b, _ := io.ReadAll(passed); string(b) != "saved stream" {
				t.Errorf("the passed descriptor reads %q, want the state file", b)
			}
			want := []string{"qmp_capabilities"}
			if mode == ModeIgnoreShared {
				want = append(want, `migrate-set-capabilities {"capabilities":[{"capability":"x-ignore-shared","state":true}]}`)
			}
			want = append(want, `getfd {"fdname":"banger-state"}`, `migrate-incoming {"uri":"fd:banger-state"}`,
				"query-migrate", "query-migrate", "query-migrate", "cont")
			if got := sequence(f); !slices.Equal(got, want) {
				t.Errorf("sequence:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestWaitMigrationFailure(t *testing.T) {
	f := startFakeQMP(t, greeting, func(cmd map[string]any) []string {
		if cmd["execute"] == "query-migrate" {
			return []string{reply(cmd, `{"status": "failed", "error-desc": "Unable to write to command"}`)}
		}
		return []string{reply(cmd, "{}")}
	})
	ctx, c := dialFake(t, f)
	err := waitMigration(ctx, c)
	if err == nil || !strings.Contains(err.Error(), "migration failed: Unable to write to command") {
		t.Fatalf("waitMigration = %v, want the failure with its description", err)
	}
}

func TestReadSnapshotInfo(t *testing.T) {
	dir := t.TempDir()
	if _, err := readSnapshotInfo(dir); err == nil {
		t.Fatal("no info file: want an error")
	}
	writeFile(t, dir+"/"+templateInfoName, `{"mode":"warp","memory_mib":1024}`)
	if _, err := readSnapshotInfo(dir); err == nil || !strings.Contains(err.Error(), `unknown mode "warp"`) {
		t.Fatalf("bad mode: %v", err)
	}
	writeFile(t, dir+"/"+templateInfoName, `{"mode":"stream","memory_mib":512}`)
	if info, err := readSnapshotInfo(dir); err != nil || info.MemoryMiB != 512 || info.Mode != ModeStream {
		t.Fatalf("readSnapshotInfo = %+v, %v", info, err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
