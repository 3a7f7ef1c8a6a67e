package vm_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"banger/internal/vm"
	"banger/internal/vm/vmtest"
	"banger/internal/vmm"
)

// consoleVMM is the fake backend whose guest writes to its serial
// console: each Start opens cfg.ConsoleLog for writing as QEMU's file
// chardev does, and hands it to the test, which writes what the guest
// would.
type consoleVMM struct {
	*vmtest.VMM
	serial chan *os.File
}

func (c *consoleVMM) ConsoleFIFO() bool { return true }

func (c *consoleVMM) Start(ctx context.Context, cfg vmm.Config) (vmm.Handle, error) {
	h, err := c.VMM.Start(ctx, cfg)
	if err != nil {
		return h, err
	}
	out, err := os.OpenFile(cfg.ConsoleLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return h, err
	}
	c.serial <- out
	return h, nil
}

func useConsoleVMM(e *vmtest.Env) *consoleVMM {
	c := &consoleVMM{VMM: e.VMM, serial: make(chan *os.File, 1)}
	e.Service.Backends[vmtest.Backend] = c
	return c
}

func consoleBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var total int64
	for _, n := range []string{"console.log", "console.log.1", "console.log.2"} {
		if st, err := os.Stat(filepath.Join(dir, n)); err == nil {
			total += st.Size()
		}
	}
	return total
}

func readConsole(t *testing.T, svc *vm.Service, name string) string {
	t.Helper()
	rc, err := svc.OpenConsoleLog(ctx, name, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestConsoleFloodIsCapped: a guest writes 40 MiB of zeros to its serial
// port, as `cat /dev/zero > /dev/ttyS0` does. The console log on disk
// stays within its cap (8 MiB, plus one rotated generation), and `vm logs`
// still shows the end of what the guest wrote.
func TestConsoleFloodIsCapped(t *testing.T) {
	e := vmtest.New(t)
	c := useConsoleVMM(e)
	in := create(t, e, vm.CreateRequest{Name: "noisy"})
	serial := <-c.serial
	zeros := make([]byte, 64<<10)
	for written := 0; written < 40<<20; written += len(zeros) {
		if _, err := serial.Write(zeros); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := serial.Write([]byte("THE END\n")); err != nil {
		t.Fatal(err)
	}
	serial.Close()
	if _, err := e.Service.Stop(ctx, "noisy", nil); err != nil {
		t.Fatal(err)
	}
	total := consoleBytes(t, e.VMDir(in.ID))
	t.Logf("the guest wrote %d bytes to its console; the log holds %d", 40<<20+8, total)
	if total > 2*vm.DefaultConsoleMax {
		t.Fatalf("the console log holds %d bytes, more than twice the cap (%d)", total, vm.DefaultConsoleMax)
	}
	if out := readConsole(t, e.Service, "noisy"); !strings.HasSuffix(out, "\x00THE END\n") {
		t.Fatalf("vm logs ends with %q, want the guest's last line", out[max(len(out)-20, 0):])
	}
}

// TestConsoleDrainedAgainAfterARestart: the console pipe outlives the
// daemon with the VMM; a restarted daemon adopts the VM and drains it
// again, so what the guest writes after the restart reaches `vm logs`.
func TestConsoleDrainedAgainAfterARestart(t *testing.T) {
	e := vmtest.New(t)
	c := useConsoleVMM(e)
	in := create(t, e, vm.CreateRequest{Name: "longlived"})
	serial := <-c.serial
	defer serial.Close()
	if _, err := serial.Write([]byte("before the restart\n")); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(e.RunDir(in.ID), "console.fifo")
	if st, err := os.Lstat(fifo); err != nil || st.Mode().Type() != os.ModeNamedPipe {
		t.Fatalf("console pipe %s: %v", fifo, err)
	}
	e.Service.Close() // the daemon goes away; the VM runs on

	svc := e.NewService()
	svc.Backends[vmtest.Backend] = c
	if err := svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := serial.Write([]byte("after the restart\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Stop(ctx, "longlived", nil); err != nil {
		t.Fatal(err)
	}
	out := readConsole(t, svc, "longlived")
	if !strings.Contains(out, "before the restart\n") || !strings.HasSuffix(out, "after the restart\n") {
		t.Fatalf("vm logs = %q", out)
	}
	if bytes.Contains([]byte(out), []byte{0}) {
		t.Fatal("unexpected bytes in the log")
	}
}
