package poll

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

func TestUntilDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		n := 0
		err := Until(t.Context(), time.Second, nil, func(context.Context) (bool, error) {
			n++
			return n == 3, nil
		})
		if err != nil {
			t.Fatalf("Until = %v, want nil", err)
		}
		if n != 3 {
			t.Fatalf("fn called %d times, want 3", n)
		}
		if got := time.Since(start); got != 2*time.Second {
			t.Fatalf("took %v, want 2s (called at once, then every second)", got)
		}
	})
}

func TestUntilError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		err := Until(t.Context(), time.Second, nil, func(context.Context) (bool, error) { return false, boom })
		if !errors.Is(err, boom) {
			t.Fatalf("Until = %v, want boom", err)
		}
	})
}

func TestUntilDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		n := 0
		err := Until(ctx, time.Second, nil, func(context.Context) (bool, error) { n++; return false, nil })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Until = %v, want DeadlineExceeded", err)
		}
		if n < 5 || n > 6 {
			t.Fatalf("fn called %d times in 5s at 1s intervals", n)
		}
	})
}

func TestUntilExited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		exited := make(chan struct{})
		go func() {
			time.Sleep(3 * time.Second)
			close(exited)
		}()
		err := Until(t.Context(), time.Second, exited, func(context.Context) (bool, error) { return false, nil })
		if !errors.Is(err, ErrExited) {
			t.Fatalf("Until = %v, want ErrExited", err)
		}
	})
}
