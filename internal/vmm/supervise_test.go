package vmm

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func startSleep(t *testing.T, s *Supervisor) Handle {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot run sleep: %v", err)
	}
	s.Track(cmd)
	st, err := ProcessStartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return Handle{PID: cmd.Process.Pid, StartTime: st}
}

func TestSupervisorStopFallsBackToKill(t *testing.T) {
	s := &Supervisor{Name: "test"}
	h := startSleep(t, s)
	if s.Status(h) != StateRunning || s.Tracked() != 1 {
		t.Fatalf("status %v tracked %d", s.Status(h), s.Tracked())
	}
	asked := false
	// A graceful request the "guest" ignores: Stop must kill after the timeout.
	err := s.Stop(context.Background(), h, 200*time.Millisecond, func(context.Context) error { asked = true; return nil })
	if err != nil || !asked {
		t.Fatalf("stop: %v (graceful asked: %v)", err, asked)
	}
	if s.Status(h) != StateStopped || s.Tracked() != 0 {
		t.Fatalf("after stop: status %v tracked %d", s.Status(h), s.Tracked())
	}
	// Stopping and killing a gone process are not errors.
	if err := s.Stop(context.Background(), h, time.Second, func(context.Context) error { return errors.New("unreachable") }); err != nil {
		t.Fatal(err)
	}
	if err := s.Kill(context.Background(), h); err != nil {
		t.Fatal(err)
	}
}

func TestSupervisorFailedGracefulKillsAtOnce(t *testing.T) {
	s := &Supervisor{Name: "test"}
	h := startSleep(t, s)
	start := time.Now()
	if err := s.Stop(context.Background(), h, time.Minute, func(context.Context) error { return errors.New("no control socket") }); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatal("Stop waited out the timeout although the graceful request failed")
	}
}

func TestSupervisorWaitsForAdoptedProcess(t *testing.T) {
	cmd := exec.Command("sleep", "0.3")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot run sleep: %v", err)
	}
	go cmd.Wait() // reaped by "the previous daemon"
	st, err := ProcessStartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	s := &Supervisor{Name: "test"} // a new daemon's supervisor: not its child
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Wait(ctx, Handle{PID: cmd.Process.Pid, StartTime: st}); err != nil {
		t.Fatalf("wait for adopted process: %v", err)
	}
}

func TestLifecycleCleansUpAfterTheProcessIsGone(t *testing.T) {
	s := &Supervisor{Name: "test"}
	var cleaned []int
	l := &Lifecycle{
		Procs: s,
		// A guest that honours the request: the graceful stop ends it.
		Graceful: func(_ context.Context, h Handle) error { return SignalProcess(h.PID, h.StartTime, syscall.SIGTERM) },
		Cleanup: func(_ context.Context, h Handle) {
			if Alive(h.PID, h.StartTime) {
				t.Errorf("cleanup of pid %d ran while it was alive", h.PID)
			}
			cleaned = append(cleaned, h.PID)
		},
	}
	ctx := context.Background()
	stopped := startSleep(t, s)
	if st, _ := l.Status(ctx, stopped); st != StateRunning {
		t.Fatalf("status before stop = %v", st)
	}
	if err := l.Stop(ctx, stopped, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	killed := startSleep(t, s)
	if err := l.Kill(ctx, killed); err != nil {
		t.Fatal(err)
	}
	if err := l.Wait(ctx, killed); err != nil {
		t.Fatal(err)
	}
	if st, _ := l.Status(ctx, killed); st != StateStopped {
		t.Fatalf("status after kill = %v", st)
	}
	if len(cleaned) != 2 || cleaned[0] != stopped.PID || cleaned[1] != killed.PID {
		t.Fatalf("cleanup ran for %v, want [%d %d]", cleaned, stopped.PID, killed.PID)
	}
}
