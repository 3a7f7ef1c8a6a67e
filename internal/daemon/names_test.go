package daemon

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/vm"
	"banger/internal/vm/vmtest"
)

// The ssh config follows the VM service's events: a VM is in it when its
// create returns, and gone when its delete returns.
func TestSSHConfigFollowsVMEvents(t *testing.T) {
	env := vmtest.New(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ssh", "config")
	nm := &names{vms: env.Service, log: slog.New(slog.NewTextHandler(io.Discard, nil)), sshPath: path,
		run: func(context.Context, string, ...string) ([]byte, error) {
			t.Error("systemd-resolved was configured without a DNS server")
			return nil, nil
		}}
	defer env.Service.Subscribe(nm.handle).Close()
	has := func() bool {
		b, _ := os.ReadFile(path)
		return strings.Contains(string(b), "Host named.vm")
	}
	if _, err := env.Service.Create(ctx, vm.CreateRequest{Name: "named"}, nil); err != nil {
		t.Fatal(err)
	}
	if !has() {
		t.Fatal("the ssh config lacks the VM when create returns")
	}
	if err := env.Service.Delete(ctx, "named"); err != nil {
		t.Fatal(err)
	}
	if has() {
		t.Fatal("the ssh config still names the VM when delete returns")
	}
}
