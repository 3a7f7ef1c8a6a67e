package vmm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// launch runs sh -c script in a temp dir; ready means the file "up" exists.
func launch(t *testing.T, script string, timeout time.Duration) (Launch, string) {
	t.Helper()
	dir := t.TempDir()
	up := filepath.Join(dir, "up")
	return Launch{
		VM: "t", Argv: []string{"sh", "-c", script}, Dir: dir,
		LogPath: filepath.Join(dir, "vmm.log"), LogName: "vmm.log",
		Ready: func(context.Context) error {
			if _, err := os.Stat(up); err != nil {
				return errors.New("not up yet")
			}
			return nil
		},
		Every: 10 * time.Millisecond, Timeout: timeout, What: "its control socket",
	}, dir
}

func TestSupervisorStartWaitsUntilReady(t *testing.T) {
	s := &Supervisor{Name: "test"}
	l, _ := launch(t, "echo booting; sleep 0.1; touch up; exec sleep 60", 10*time.Second)
	p, err := s.Start(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	h := Handle{PID: p.PID, StartTime: p.StartTime}
	if s.Status(h) != StateRunning {
		t.Fatal("started process is not running")
	}
	if err := s.Kill(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	if s.Status(h) != StateStopped || s.Tracked() != 0 {
		t.Fatalf("after kill: status %v, tracked %d", s.Status(h), s.Tracked())
	}
	if b, _ := os.ReadFile(l.LogPath); !strings.Contains(string(b), "booting") {
		t.Errorf("log = %q, want the process's output", b)
	}
}

func TestSupervisorStartEarlyExit(t *testing.T) {
	s := &Supervisor{Name: "test"}
	l, _ := launch(t, "echo bad config, giving up >&2; exit 1", time.Minute)
	_, err := s.Start(context.Background(), l)
	if err == nil || !strings.Contains(err.Error(), "test exited before its control socket came up") || !strings.Contains(err.Error(), "bad config, giving up") {
		t.Fatalf("err = %v, want the early exit with the log's end", err)
	}
	if s.Tracked() != 0 {
		t.Errorf("%d processes left tracked", s.Tracked())
	}
}

func TestSupervisorStartTimeoutKills(t *testing.T) {
	s := &Supervisor{Name: "test"}
	l, _ := launch(t, "exec sleep 60", 100*time.Millisecond)
	_, err := s.Start(context.Background(), l)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "last error: not up yet") {
		t.Fatalf("err = %v, want a deadline with the last readiness error", err)
	}
	if s.Tracked() != 0 {
		t.Errorf("the process that never became ready was not killed and reaped")
	}
}
