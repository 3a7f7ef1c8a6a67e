package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/vm/vmtest"
)

type testDaemon struct {
	env    *vmtest.Env
	h      *Handlers
	client *api.Client
	socket string
}

// newTestDaemon serves the API over a unix socket in a temp dir, backed by
// the fake host of vmtest.
func newTestDaemon(t *testing.T) *testDaemon {
	t.Helper()
	env := vmtest.New(t)
	sock := filepath.Join(t.TempDir(), "api.sock")
	h := &Handlers{VMs: env.Service, Images: env.Images,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Socket: sock, Version: "test"}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h.Routes()}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &testDaemon{env: env, h: h, client: api.NewClient(sock), socket: sock}
}

func (d *testDaemon) create(t *testing.T, req api.CreateVM) api.VM {
	t.Helper()
	v, err := d.client.CreateVM(context.Background(), req, nil)
	if err != nil {
		t.Fatalf("CreateVM(%+v): %v", req, err)
	}
	return v
}

func apiErr(t *testing.T, err error) *api.Error {
	t.Helper()
	var ae *api.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *api.Error", err, err)
	}
	return ae
}

func TestClientSeesErrorKinds(t *testing.T) {
	d := newTestDaemon(t)
	ctx := context.Background()
	d.create(t, api.CreateVM{Name: "dup"})

	_, err := d.client.GetVM(ctx, "ghost")
	e := apiErr(t, err)
	if e.Kind != api.KindNotFound || !opRE.MatchString(e.OpID) || !strings.Contains(err.Error(), "(op "+e.OpID+")") || !strings.Contains(err.Error(), "ghost") {
		t.Fatalf("GetVM(ghost) = %v (%+v)", err, e)
	}

	tests := []struct {
		name string
		req  api.CreateVM
		kind string
	}{
		{"duplicate", api.CreateVM{Name: "dup"}, api.KindAlreadyExists},
		{"unparsable size", api.CreateVM{DiskSize: "lots"}, api.KindBadRequest},
		{"small disk", api.CreateVM{DiskSize: "1M"}, api.KindBadRequest},
		{"vcpus", api.CreateVM{VCPUs: 65}, api.KindBadRequest},
		{"memory", api.CreateVM{MemoryMiB: 1}, api.KindBadRequest},
		{"name", api.CreateVM{Name: "Nope!"}, api.KindBadRequest},
		{"image", api.CreateVM{Image: "ghost-image"}, api.KindNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := d.client.CreateVM(ctx, tt.req, nil)
			if e := apiErr(t, err); e.Kind != tt.kind || !opRE.MatchString(e.OpID) {
				t.Fatalf("CreateVM(%+v) = %+v, want kind %s", tt.req, e, tt.kind)
			}
		})
	}
	vms, err := d.client.ListVMs(ctx)
	if err != nil || len(vms) != 1 {
		t.Fatalf("after failed creates: %d VMs, %v", len(vms), err)
	}

	_, err = d.client.VMAction(ctx, "dup", "explode", nil)
	if e := apiErr(t, err); e.Kind != api.KindUnknown {
		t.Fatalf("unknown action: %+v", e)
	}
	_, err = d.client.VMAction(ctx, "ghost", "start", nil)
	if e := apiErr(t, err); e.Kind != api.KindNotFound || !opRE.MatchString(e.OpID) {
		t.Fatalf("start ghost: %+v", e)
	}
	if e := apiErr(t, d.client.DeleteImage(ctx, vmtest.ImageName)); e.Kind != api.KindInUse {
		t.Fatalf("delete used image: %+v", e)
	}
}

func TestCreateStreamsProgressThenResult(t *testing.T) {
	d := newTestDaemon(t)
	sawSSH := make(chan struct{})
	// Ready holds the boot until the client has seen the "ssh" event, so
	// this only passes if events reach the client while the create runs.
	d.env.HoldReady(func(ctx context.Context) error {
		select {
		case <-sawSSH:
			return nil
		case <-time.After(5 * time.Second):
			return errors.New("the client never saw the ssh event")
		}
	})
	var events []api.Event
	yes := true
	v, err := d.client.CreateVM(context.Background(), api.CreateVM{Name: "streamed", NAT: &yes, DiskSize: "2G"}, func(ev api.Event) {
		events = append(events, ev)
		if ev.Step == "ssh" {
			close(sawSSH)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// The stream names its operation first (ops wait, ops cancel).
	if op, ok := api.OperationOf(events[0]); !ok || op.Kind != "vm create" || op.Target != "streamed" || op.State != api.OpRunning {
		t.Errorf("first event %+v, want the operation of the create", events[0])
	}
	var steps []string
	for _, ev := range events[1:] {
		if ev.Type != "log" || ev.Message == "" {
			t.Errorf("event %+v, want a log event with a message", ev)
		}
		steps = append(steps, ev.Step)
	}
	if want := "create,network,boot,ssh,ready"; strings.Join(steps, ",") != want {
		t.Fatalf("steps %v, want %s", steps, want)
	}
	if v.Name != "streamed" || v.State != "running" || !v.NAT || v.DiskBytes != 2<<30 || v.PID == 0 || v.IP == "" {
		t.Fatalf("result %+v", v)
	}
}

func TestListAndShowRoundTrip(t *testing.T) {
	d := newTestDaemon(t)
	ctx := context.Background()
	on := d.create(t, api.CreateVM{Name: "bravo", NAT: &[]bool{true}[0], VCPUs: 3, MemoryMiB: 768, DiskSize: "3G"})
	off := d.create(t, api.CreateVM{Name: "alpha", NoStart: true})
	if off.State != "created" || off.PID != 0 || off.Tap != "" {
		t.Fatalf("NoStart VM %+v", off)
	}
	vms, err := d.client.ListVMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(vms) != 2 {
		t.Fatalf("%d VMs", len(vms))
	}
	infos, err := d.env.Service.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]api.VM{}
	for _, v := range vms {
		byID[v.ID] = v
	}
	for _, in := range infos {
		got, want := byID[in.ID], vmAPI(in)
		if !got.CreatedAt.Equal(want.CreatedAt) || got.CreatedAt.IsZero() {
			t.Errorf("%s created_at %v, want %v", in.Name, got.CreatedAt, want.CreatedAt)
		}
		got.CreatedAt, want.CreatedAt = time.Time{}, time.Time{}
		if got != want {
			t.Errorf("listed %+v\nwant   %+v", got, want)
		}
		for _, key := range []string{in.Name, in.ID} {
			shown, err := d.client.GetVM(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			shown.CreatedAt = time.Time{}
			if shown != got {
				t.Errorf("GetVM(%s) = %+v\nwant %+v", key, shown, got)
			}
		}
	}
	b := byID[on.ID]
	if b.State != "running" || b.Image != vmtest.ImageName || b.VCPUs != 3 || b.MemoryMiB != 768 || b.DiskBytes != 3<<30 ||
		!b.NAT || b.Backend != vmtest.Backend || b.Accel != "fake" || b.PID == 0 || b.Tap == "" || b.MAC == "" || b.Dir == "" {
		t.Errorf("running VM shown as %+v", b)
	}
}

func TestLogs(t *testing.T) {
	d := newTestDaemon(t)
	ctx := context.Background()
	v := d.create(t, api.CreateVM{Name: "chatty", NoStart: true})
	var buf strings.Builder
	if _, err := d.client.Logs(ctx, "chatty", 0, &buf); err != nil || buf.Len() != 0 {
		t.Fatalf("logs of a never-booted VM: %q, %v", buf.String(), err)
	}
	content := "[    0.000000] Linux version 6.1.0\nDebian GNU/Linux 12 chatty ttyS0\n" + strings.Repeat("x", 100000) + "\n"
	if err := os.WriteFile(filepath.Join(v.Dir, "console.log"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	n, err := d.client.Logs(ctx, v.ID, 0, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != content || n != int64(len(content)) {
		t.Fatalf("logs: got %d bytes (n=%d), want %d", buf.Len(), n, len(content))
	}
	// Following: from an offset only the rest comes back.
	buf.Reset()
	if _, err := d.client.Logs(ctx, v.ID, int64(len(content)-101), &buf); err != nil || buf.String() != content[len(content)-101:] {
		t.Fatalf("logs from offset: %q, %v", buf.String(), err)
	}
	if _, err := d.client.Logs(ctx, v.ID, -1, &buf); err == nil {
		t.Fatal("negative offset accepted")
	}
	_, err = d.client.Logs(ctx, "ghost", 0, &buf)
	if e := apiErr(t, err); e.Kind != api.KindNotFound {
		t.Fatalf("logs of unknown VM: %+v", e)
	}
}

func TestLifecycleOverClient(t *testing.T) {
	d := newTestDaemon(t)
	ctx := context.Background()
	v := d.create(t, api.CreateVM{Name: "cycle"})
	d.create(t, api.CreateVM{Name: "idle", NoStart: true})

	tg, err := d.client.SSHTarget(ctx, "cycle")
	if err != nil || tg.Host != v.IP || tg.User != "root" || tg.Port != 22 || tg.VM != "cycle" || tg.HostKeyAlias == "" || tg.KeyPath == "" || tg.KnownHosts == "" {
		t.Fatalf("SSHTarget = %+v, %v", tg, err)
	}
	var steps []string
	stopped, err := d.client.VMAction(ctx, "cycle", "stop", func(ev api.Event) {
		if ev.Type != api.EventOperation {
			steps = append(steps, ev.Step)
		}
	})
	if err != nil || stopped.State != "stopped" || stopped.PID != 0 || len(steps) == 0 || steps[0] != "stop" {
		t.Fatalf("stop = %+v, %v, steps %v", stopped, err, steps)
	}
	if _, err := d.client.SSHTarget(ctx, "cycle"); apiErr(t, err).Kind != api.KindBadRequest {
		t.Fatalf("SSHTarget of stopped VM: %v", err)
	}
	started, err := d.client.VMAction(ctx, "cycle", "start", nil)
	if err != nil || started.State != "running" || started.PID == 0 || started.PID == v.PID {
		t.Fatalf("start = %+v, %v", started, err)
	}
	restarted, err := d.client.VMAction(ctx, "cycle", "restart", nil)
	if err != nil || restarted.State != "running" || restarted.PID == started.PID {
		t.Fatalf("restart = %+v, %v", restarted, err)
	}
	pr, err := d.client.PruneVMs(ctx)
	if err != nil || len(pr.Deleted) != 1 || pr.Deleted[0] != "idle" {
		t.Fatalf("prune = %+v, %v", pr, err)
	}
	killed, err := d.client.VMAction(ctx, "cycle", "kill", nil)
	if err != nil || killed.State != "stopped" {
		t.Fatalf("kill = %+v, %v", killed, err)
	}
	if err := d.client.DeleteVM(ctx, "cycle"); err != nil {
		t.Fatal(err)
	}
	if vms, err := d.client.ListVMs(ctx); err != nil || len(vms) != 0 {
		t.Fatalf("after delete: %+v, %v", vms, err)
	}
	pr, err = d.client.PruneVMs(ctx)
	if err != nil || pr.Deleted == nil || len(pr.Deleted) != 0 {
		t.Fatalf("empty prune = %#v, %v", pr, err)
	}
	p, err := d.client.Ping(ctx)
	if err != nil || p.Version != "test" || p.Socket != d.socket || p.PID != os.Getpid() {
		t.Fatalf("ping = %+v, %v", p, err)
	}
}
