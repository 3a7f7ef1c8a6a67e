package guestinit

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"banger/internal/poll"
)

// TestReaper makes the test process a subreaper, so orphans come to it as
// they would to PID 1, and checks that each started process gets its own
// exit status while an orphan is reaped too.
func TestReaper(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	defer unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := NewReaper()
	go r.Run(ctx)

	// An orphan: the shell leaves a sleep behind and exits 3.
	rd, wr, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	cmd := exec.Command("/bin/sh", "-c", "sleep 0.3 </dev/null >/dev/null 2>&1 & echo $!; exit 3")
	cmd.Stdout = wr
	exited, err := r.Start(cmd)
	wr.Close()
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(rd).ReadString('\n')
	if err != nil {
		t.Fatalf("read orphan pid: %v", err)
	}
	orphan, _ := strconv.Atoi(strings.TrimSpace(line))

	// Meanwhile several children exit with their own codes.
	var wg sync.WaitGroup
	for code := range 5 {
		wg.Go(func() {
			ch, err := r.Start(exec.Command("/bin/sh", "-c", "exit "+strconv.Itoa(code)))
			if err != nil {
				t.Error(err)
				return
			}
			if st := wait(ctx, t, ch); st.ExitStatus() != code {
				t.Errorf("child got status %d, want %d", st.ExitStatus(), code)
			}
		})
	}
	if st := wait(ctx, t, exited); st.ExitStatus() != 3 {
		t.Errorf("shell got status %d, want 3", st.ExitStatus())
	}
	wg.Wait()
	// The orphan is reparented to this process and reaped: its /proc
	// entry (a zombie's stays until it is reaped) goes away.
	err = poll.Until(ctx, 20*time.Millisecond, nil, func(context.Context) (bool, error) {
		_, err := os.Stat("/proc/" + strconv.Itoa(orphan))
		return os.IsNotExist(err), nil
	})
	if err != nil {
		t.Fatalf("orphan %d was not reaped: %v", orphan, err)
	}
	if r.Orphans() < 1 {
		t.Errorf("Orphans = %d, want at least 1", r.Orphans())
	}
}

func wait(ctx context.Context, t *testing.T, ch <-chan syscall.WaitStatus) syscall.WaitStatus {
	select {
	case st := <-ch:
		return st
	case <-ctx.Done():
		t.Error("no exit status before the deadline")
		return syscall.WaitStatus(0xffff)
	}
}
