package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"banger/internal/api"
	"banger/internal/store"
	"banger/internal/vm/vmtest"
)

type drainDaemon struct {
	*testDaemon
	srv        *http.Server
	cancelReqs context.CancelFunc
}

// newDrainDaemon is newTestDaemon with the drain of Run: counted requests
// and a base context that the shutdown cancels.
func newDrainDaemon(t *testing.T) *drainDaemon {
	t.Helper()
	env := vmtest.New(t)
	sock := filepath.Join(t.TempDir(), "api.sock")
	h := &Handlers{VMs: env.Service, Images: env.Images, ops: &ops{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Socket: sock, Version: "test"}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	reqCtx, cancel := context.WithCancel(context.Background())
	srv := &http.Server{Handler: h.Routes(), BaseContext: func(net.Listener) context.Context { return reqCtx }}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { cancel(); _ = srv.Close() })
	return &drainDaemon{testDaemon: &testDaemon{env: env, h: h, client: api.NewClient(sock), socket: sock}, srv: srv, cancelReqs: cancel}
}

// TestShutdownDrainsOperations: a stopping daemon refuses new requests,
// lets a create in flight finish (before, Shutdown gave it 5 s and the
// process exited under it), and does not wait for requests that only hold
// something open.
func TestShutdownDrainsOperations(t *testing.T) {
	d := newDrainDaemon(t)
	booting, release := make(chan struct{}), make(chan struct{})
	d.env.HoldReady(func(ctx context.Context) error {
		close(booting)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	created := make(chan error, 1)
	go func() {
		_, err := d.client.CreateVM(context.Background(), api.CreateVM{Name: "inflight"}, nil)
		created <- err
	}()
	<-booting
	drained := make(chan bool, 1)
	go func() { drained <- d.h.shutdown(d.srv, d.cancelReqs, time.Minute, 10*time.Second) }()
	vmtest.Eventually(t, "the drain starts", func() bool {
		_, err := d.client.ListVMs(context.Background())
		var ae *api.Error
		return errors.As(err, &ae) && ae.Kind == api.KindFailed
	})
	close(release)
	if err := <-created; err != nil {
		t.Fatalf("the create in flight failed during the drain: %v", err)
	}
	if !<-drained {
		t.Error("shutdown reports operations cut off")
	}
	if v, err := d.env.Store.GetVM(context.Background(), "inflight"); err != nil || v.State != store.VMStateRunning {
		t.Errorf("VM created during the drain: %+v, %v; want running", v, err)
	}
}

// TestShutdownCancelsOperationsPastTheBound: an operation still running
// at the bound is cancelled and rolls back; a --rm VM held by its request
// is deleted.
func TestShutdownCancelsOperationsPastTheBound(t *testing.T) {
	d := newDrainDaemon(t)
	held := make(chan api.VM, 1)
	holdDone := make(chan error, 1)
	go func() {
		_, err := d.client.HoldVM(context.Background(), api.CreateVM{Name: "held"}, nil, func(v api.VM) { held <- v })
		holdDone <- err
	}()
	<-held
	booting := make(chan struct{})
	d.env.HoldReady(func(ctx context.Context) error { close(booting); <-ctx.Done(); return ctx.Err() })
	created := make(chan error, 1)
	go func() {
		_, err := d.client.CreateVM(context.Background(), api.CreateVM{Name: "stuck"}, nil)
		created <- err
	}()
	<-booting
	if d.h.shutdown(d.srv, d.cancelReqs, 200*time.Millisecond, 10*time.Second) {
		t.Error("shutdown reports a drained daemon while a boot was stuck")
	}
	if err := <-created; err == nil {
		t.Error("the stuck create succeeded")
	}
	<-holdDone
	ctx := context.Background()
	if _, err := d.env.Store.GetVM(ctx, "held"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("--rm VM after the daemon stopped: %v, want deleted", err)
	}
	if v, err := d.env.Store.GetVM(ctx, "stuck"); err == nil && v.State == store.VMStateRunning {
		t.Errorf("the cancelled boot left %s running", v.Name)
	}
}

// TestHeldVMGoesWithItsClient: `vm run --rm` whose client is killed,
// during the boot or after it, leaves no VM (before, a client killed
// during the boot left it listed as "created").
func TestHeldVMGoesWithItsClient(t *testing.T) {
	for _, when := range []string{"boot", "ready"} {
		t.Run(when, func(t *testing.T) {
			d := newTestDaemon(t)
			ctx, kill := context.WithCancel(context.Background())
			if when == "boot" {
				d.env.HoldReady(func(rctx context.Context) error { kill(); <-rctx.Done(); return rctx.Err() })
			}
			done := make(chan error, 1)
			go func() {
				_, err := d.client.HoldVM(ctx, api.CreateVM{Name: "rm-me"}, nil, func(api.VM) { kill() })
				done <- err
			}()
			<-done
			vmtest.Eventually(t, "the VM is deleted", func() bool {
				vms, err := d.client.ListVMs(context.Background())
				return err == nil && len(vms) == 0
			})
		})
	}
}
