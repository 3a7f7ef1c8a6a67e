// Package poll waits for a condition that can only be observed by asking
// again: a socket that appears, a process that goes away, a guest that
// starts answering.
package poll

import (
	"context"
	"errors"
	"time"
)

// ErrExited is returned by Until when the exited channel closes before the
// condition held: the thing being waited on is gone for good.
var ErrExited = errors.New("exited while waiting")

// Until calls fn at once and then every interval until fn reports done,
// fn returns an error, ctx ends, or exited is closed. A nil exited is never
// closed. fn's error is returned as is; an ended ctx returns ctx's error
// wrapped with fn's last error when it had one.
func Until(ctx context.Context, every time.Duration, exited <-chan struct{}, fn func(context.Context) (bool, error)) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		done, err := fn(ctx)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return ErrExited
		case <-t.C:
		}
	}
}
