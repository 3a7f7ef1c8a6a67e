package qemu

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"banger/internal/poll"
	"banger/internal/vmm"
)

// sleeper starts `sleep 60` as a stand-in VMM process and returns a handle
// for it and a channel closed once the test has reaped it.
func sleeper(t *testing.T) (vmm.Handle, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sleep: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	start, err := vmm.ProcessStartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatalf("ProcessStartTime: %v", err)
	}
	dir := t.TempDir()
	return vmm.Handle{Backend: "qemu", PID: cmd.Process.Pid, StartTime: start, Control: filepath.Join(dir, "qmp.sock"), Accel: "tcg"}, done
}

func TestStatusAndKill(t *testing.T) {
	ctx := context.Background()
	q := New(Options{Accel: "tcg"})

	tests := []struct {
		name        string
		skew        uint64 // added to the handle's start time
		wantStatus  vmm.State
		wantKilled  bool
		killAgainOK bool
	}{
		{name: "same process", skew: 0, wantStatus: vmm.StateRunning, wantKilled: true},
		{name: "pid reused by another process", skew: 1, wantStatus: vmm.StateStopped, wantKilled: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, done := sleeper(t)
			h.StartTime += tt.skew
			st, err := q.Status(ctx, h)
			if err != nil || st != tt.wantStatus {
				t.Fatalf("Status = %v, %v; want %v", st, err, tt.wantStatus)
			}
			if err := q.Kill(ctx, h); err != nil {
				t.Fatalf("Kill: %v", err)
			}
			if !tt.wantKilled {
				// Kill returned without signalling: the process it must not
				// touch is still there.
				if !vmm.Alive(h.PID, h.StartTime-tt.skew) {
					t.Fatal("Kill signalled a process whose start time does not match the handle")
				}
				return
			}
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("process still running after Kill")
			}
			if st, _ := q.Status(ctx, h); st != vmm.StateStopped {
				t.Fatalf("Status after Kill = %v, want stopped", st)
			}
		})
	}
}

func TestWaitAdopted(t *testing.T) {
	q := New(Options{Accel: "tcg"})
	h, _ := sleeper(t)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := q.Wait(ctx, h); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on running process = %v, want deadline exceeded", err)
	}

	waited := make(chan error, 1)
	go func() { waited <- q.Wait(context.Background(), h) }()
	if err := vmm.SignalProcess(h.PID, h.StartTime, 9); err != nil {
		t.Fatalf("SignalProcess: %v", err)
	}
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("Wait = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return after the process died")
	}
}

func TestStopWithoutQMPKills(t *testing.T) {
	q := New(Options{Accel: "tcg"})
	h, done := sleeper(t)
	start := time.Now()
	if err := q.Stop(context.Background(), h, 10*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("process still running after Stop")
	}
	// No QMP means no powerdown to wait for: Stop must not sit out the timeout.
	if d := time.Since(start); d > 8*time.Second {
		t.Fatalf("Stop took %s", d)
	}
	// Stopping again is a no-op.
	if err := q.Stop(context.Background(), h, time.Second); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func testConfig(t *testing.T, kernel string) vmm.Config {
	// Keep socket paths short: t.TempDir() under a long test name can exceed
	// the 107 bytes a unix socket path may have.
	dir, err := os.MkdirTemp("", "bgq-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return vmm.Config{
		ID:          "test",
		Kernel:      kernel,
		Cmdline:     "console=ttyS0",
		VCPUs:       1,
		MemoryMiB:   256,
		Dir:         filepath.Join(dir, "run"),
		ConsoleLog:  filepath.Join(dir, "console.log"),
		AgentSocket: filepath.Join(dir, "run", "agent.sock"),
	}
}

func TestStartFailureReportsLogAndCleansUp(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "fake-qemu")
	script := "#!/bin/sh\necho 'qemu-system-x86_64: something went badly wrong' >&2\nexit 1\n"
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		binary  string
		kernel  string
		wantErr string
	}{
		{"process exits at once", fake, "/nonexistent/vmlinuz", "something went badly wrong"},
		{"binary missing", filepath.Join(t.TempDir(), "nope"), "/nonexistent/vmlinuz", "no such file"},
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err == nil {
		tests = append(tests, struct {
			name    string
			binary  string
			kernel  string
			wantErr string
		}{"real qemu, missing kernel", "qemu-system-x86_64", "/nonexistent/vmlinuz", "/nonexistent/vmlinuz"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := New(Options{Binary: tt.binary, Accel: "tcg", StartTimeout: 5 * time.Second})
			cfg := testConfig(t, tt.kernel)
			_, err := q.Start(context.Background(), cfg)
			if err == nil {
				t.Fatal("Start succeeded, want error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Start error = %v, want it to contain %q", err, tt.wantErr)
			}
			t.Logf("Start error: %v", err)
			for _, p := range []string{QMPSocket(cfg.Dir), cfg.AgentSocket, filepath.Join(cfg.Dir, pidFileName)} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("%s left behind (stat err %v)", p, err)
				}
			}
			if n := q.Procs.Tracked(); n != 0 {
				t.Errorf("%d children still tracked after failed Start", n)
			}
		})
	}
}

// testKernel returns a bootable kernel for real-QEMU tests or skips.
func testKernel(t *testing.T) string {
	t.Helper()
	k := os.Getenv("BANGER_TEST_KERNEL")
	if k == "" {
		// The default image's kernel, as the end-to-end tests' cache or a
		// root install holds it.
		for _, c := range []string{"/var/cache/banger-e2e/state/kernels/debian-bookworm/vmlinuz",
			"/var/lib/banger/kernels/debian-bookworm/vmlinuz", "/var/cache/banger-dev/kernel/vmlinuz"} {
			if _, err := os.Stat(c); err == nil {
				k = c
				break
			}
		}
	}
	if _, err := os.Stat(k); k == "" || err != nil {
		t.Skipf("no test kernel found (set BANGER_TEST_KERNEL, or run the end-to-end tests once to build the default image): %q %v", k, err)
	}
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skipf("qemu-system-x86_64 not installed: %v", err)
	}
	return k
}

func TestBootTCG(t *testing.T) {
	if testing.Short() {
		t.Skip("boots a real guest under TCG; skipped with -short")
	}
	kernel := testKernel(t)
	// No disks and no NIC: no network namespace needed.
	cfg := testConfig(t, kernel)
	cfg.SSHSocket = filepath.Join(cfg.Dir, "ssh.sock")
	q := New(Options{Accel: "tcg"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	h, err := q.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = q.Kill(context.Background(), h) })
	if h.Backend != "qemu" || h.Accel != "tcg" || h.Control != QMPSocket(cfg.Dir) || h.PID <= 0 {
		t.Fatalf("handle = %+v", h)
	}
	if want, _ := vmm.ProcessStartTime(h.PID); want != h.StartTime {
		t.Fatalf("handle start time %d, /proc says %d", h.StartTime, want)
	}
	if st, err := q.Status(ctx, h); err != nil || st != vmm.StateRunning {
		t.Fatalf("Status = %v, %v; want running", st, err)
	}
	checkConfined(t, h.PID, cfg)
	for _, p := range []string{h.Control, cfg.AgentSocket, cfg.SSHSocket, filepath.Join(cfg.Dir, pidFileName)} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("while running: %v", err)
		}
	}

	var console string
	bootCtx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	err = poll.Until(bootCtx, 200*time.Millisecond, nil, func(context.Context) (bool, error) {
		b, _ := os.ReadFile(cfg.ConsoleLog)
		console = string(b)
		return strings.Contains(console, "Linux version"), nil
	})
	if err != nil {
		t.Fatalf("no \"Linux version\" on the console after 90s; console:\n%s\nqemu.log:\n%s", console, vmm.Tail(filepath.Join(cfg.Dir, logFileName), 2048))
	}
	if !strings.Contains(console, "tsc_early_khz=") && q.tscKHz > 0 {
		t.Errorf("TCG guest command line lacks the tsc_early_khz hint:\n%s", console)
	}

	// The guest has no init and no ACPI power-button handler, so the
	// powerdown is ignored and Stop must fall back to SIGKILL.
	stopStart := time.Now()
	if err := q.Stop(ctx, h, 2*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	b, _ := os.ReadFile(cfg.ConsoleLog)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	t.Logf("Stop took %s; %d console lines, last: %q", time.Since(stopStart).Round(time.Millisecond), len(lines), lines[len(lines)-1])
	if vmm.Alive(h.PID, h.StartTime) {
		t.Fatal("qemu still alive after Stop")
	}
	if st, _ := q.Status(ctx, h); st != vmm.StateStopped {
		t.Fatalf("Status after Stop = %v", st)
	}
	for _, p := range []string{h.Control, cfg.AgentSocket, cfg.SSHSocket, filepath.Join(cfg.Dir, pidFileName), filepath.Join(cfg.Dir, socketsFileName)} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left behind after Stop (stat err %v)", p, err)
		}
	}
	if n := q.Procs.Tracked(); n != 0 {
		t.Errorf("%d children still tracked after Stop (zombie?)", n)
	}
}

func TestStopGracefulViaQMP(t *testing.T) {
	q := New(Options{Accel: "tcg"})
	h, done := sleeper(t)
	f := startFakeQMP(t, greeting, func(cmd map[string]any) []string {
		switch cmd["execute"] {
		case "qmp_capabilities":
			return []string{reply(cmd, "{}")}
		case "system_powerdown":
			// The "guest" shuts down a moment after the button press.
			time.AfterFunc(200*time.Millisecond, func() { _ = vmm.SignalProcess(h.PID, h.StartTime, 15) })
			return []string{reply(cmd, "{}")}
		}
		return nil
	})
	h.Control = f.path
	start := time.Now()
	if err := q.Stop(context.Background(), h, 10*time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Stop took %s; it should return when the process exits", d)
	}
	<-done
	var cmds []string
	for len(f.received) > 0 {
		c := <-f.received
		cmds = append(cmds, c["execute"].(string))
	}
	if strings.Join(cmds, ",") != "qmp_capabilities,system_powerdown" {
		t.Fatalf("QMP commands = %v", cmds)
	}
	if _, err := os.Stat(f.path); !os.IsNotExist(err) {
		t.Fatalf("QMP socket left behind after Stop (stat err %v)", err)
	}
}
