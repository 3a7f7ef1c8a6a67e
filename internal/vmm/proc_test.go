package vmm

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func TestParseProcStat(t *testing.T) {
	tail := " 1 1 1 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 %s 1000 100"
	tests := []struct {
		name    string
		in      string
		want    procStat
		wantErr bool
	}{
		{"plain", "123 (sleep) S" + fmt.Sprintf(tail, "4242"), procStat{'S', 4242}, false},
		{"spaces and parens in comm", "123 (a b) (c)) Z" + fmt.Sprintf(tail, "99"), procStat{'Z', 99}, false},
		{"truncated", "123 (sleep) S 1 1", procStat{}, true},
		{"no comm", "garbage", procStat{}, true},
		{"bad start time", "123 (sleep) R" + fmt.Sprintf(tail, "x"), procStat{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseProcStat err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("parseProcStat = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAliveFakeProc(t *testing.T) {
	root := t.TempDir()
	write := func(pid int, state, start string) {
		dir := filepath.Join(root, strconv.Itoa(pid))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		s := strconv.Itoa(pid) + " (qemu) " + state + fmt.Sprintf(" 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 %s 0 0", start)
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(10, "S", "500")
	write(11, "Z", "600")
	tests := []struct {
		name  string
		pid   int
		start uint64
		want  bool
	}{
		{"running, same start", 10, 500, true},
		{"running, reused pid", 10, 501, false},
		{"zombie", 11, 600, false},
		{"missing", 12, 1, false},
		{"invalid pid", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := alive(root, tt.pid, tt.start); got != tt.want {
				t.Fatalf("alive(%d, %d) = %v, want %v", tt.pid, tt.start, got, tt.want)
			}
		})
	}
}

func TestSignalProcess(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sleep: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	pid := cmd.Process.Pid
	start, err := ProcessStartTime(pid)
	if err != nil {
		t.Fatalf("ProcessStartTime: %v", err)
	}
	if !Alive(pid, start) {
		t.Fatal("Alive = false for a running child")
	}

	// Wrong start time: must not be signalled.
	if err := SignalProcess(pid, start+1, syscall.SIGKILL); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("SignalProcess with wrong start time = %v, want ErrNotRunning", err)
	}
	if !Alive(pid, start) {
		t.Fatal("process gone after a mismatched signal")
	}

	if err := SignalProcess(pid, start, syscall.SIGKILL); err != nil {
		t.Fatalf("SignalProcess: %v", err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("process still running after SIGKILL")
	}
	if Alive(pid, start) {
		t.Fatal("Alive = true after the process was reaped")
	}
	if err := SignalProcess(pid, start, syscall.SIGKILL); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("SignalProcess on exited process = %v, want ErrNotRunning", err)
	}
}
