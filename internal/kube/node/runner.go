package node

import (
	"context"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"banger/internal/kube/sandboxes"
	"banger/internal/kube/v1alpha1"
)

// runners are the goroutines that watch the sandboxes' commands, one per
// Sandbox UID.
type runners struct {
	mu sync.Mutex
	m  map[types.UID]context.CancelFunc
	wg sync.WaitGroup
	// base is the context every runner derives from; cancelled by close.
	base   context.Context
	cancel context.CancelFunc
}

func newRunners() *runners {
	base, cancel := context.WithCancel(context.Background())
	return &runners{m: map[types.UID]context.CancelFunc{}, base: base, cancel: cancel}
}

// ensure starts run for uid unless one runs already, and reports
// whether it did.
func (r *runners) ensure(uid types.UID, run func(ctx context.Context)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[uid]; ok || r.base.Err() != nil {
		return false
	}
	ctx, cancel := context.WithCancel(r.base)
	r.m[uid] = cancel
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer r.forget(uid, ctx)
		run(ctx)
	}()
	return true
}

// forget removes uid's entry if it is still the one of ctx.
func (r *runners) forget(uid types.UID, ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cancel, ok := r.m[uid]; ok && ctx.Err() == nil {
		cancel()
		delete(r.m, uid)
	}
}

// stop cancels uid's runner, if any.
func (r *runners) stop(uid types.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cancel, ok := r.m[uid]; ok {
		cancel()
		delete(r.m, uid)
	}
}

// close stops every runner and waits for them.
func (r *runners) close() {
	r.cancel()
	r.wg.Wait()
}

// watch runs sb's command in its VM (copying its workspace in first) and
// waits for it to exit, then writes its exit code and output into the
// status (the reconciler then deletes the VM). The command runs detached
// in the guest: when the agent stops, a later one waits for it again.
// Failures are retried with a growing pause, maxFailures times in a row
// at most; then, or at once for a failure no retry mends (a bad
// workspace), or when the command is gone without an exit code, the
// sandbox fails with the reason in its status.
func (a *Agent) watch(ctx context.Context, sb v1alpha1.Sandbox, vm string) {
	pause, failures := a.retryPause, 0
	for ctx.Err() == nil {
		began := time.Now()
		res, err := a.execute(ctx, &sb, vm)
		if time.Since(began) > time.Minute { // it got somewhere: count afresh
			pause, failures = a.retryPause, 0
		}
		switch {
		case err == nil && res.lost:
			err = a.end(ctx, &sb, v1alpha1.PhaseFailed, "CommandLost", "the command's process in "+vm+" is gone without an exit code (the guest restarted, or it was killed)")
		case err == nil:
			err = a.exitedStatus(ctx, &sb, vm, res)
		case isPermanent(err) || failures+1 >= maxFailures:
			err = a.end(ctx, &sb, v1alpha1.PhaseFailed, failureReason(err), err.Error())
		}
		if err == nil || ctx.Err() != nil {
			return
		}
		failures++
		a.Log.WarnContext(ctx, "sandbox command", "sandbox", sb.Namespace+"/"+sb.Name, "vm", vm, "err", err, "failures", failures, "retry_in", pause)
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, 30*time.Second)
	}
}

// maxFailures is how many failures in a row end a sandbox's command
// (about a minute of retries).
const maxFailures = 6

// exitedStatus writes how the command exited.
func (a *Agent) exitedStatus(ctx context.Context, sb *v1alpha1.Sandbox, vm string, res exited) error {
	phase, reason := v1alpha1.PhaseSucceeded, "Completed"
	if res.code != 0 {
		phase, reason = v1alpha1.PhaseFailed, "Error"
	}
	code := int32(res.code)
	err := sandboxes.Update(ctx, a.Client, sb, func(st *v1alpha1.SandboxStatus) {
		if st.Phase.Final() {
			return
		}
		st.ExitCode, st.Output = &code, tail(res.output, v1alpha1.OutputTail)
		sandboxes.End(st, phase, reason, "the command exited "+strconv.Itoa(res.code))
	})
	if err == nil {
		a.Log.InfoContext(ctx, "command exited", "sandbox", sb.Namespace+"/"+sb.Name, "vm", vm, "code", res.code)
		a.event(sb, res.code != 0, "CommandExited", "the command exited "+strconv.Itoa(res.code))
	}
	return err
}

// end ends sb with phase, reason and message.
func (a *Agent) end(ctx context.Context, sb *v1alpha1.Sandbox, phase v1alpha1.Phase, reason, message string) error {
	a.Log.WarnContext(ctx, "sandbox ends", "sandbox", sb.Namespace+"/"+sb.Name, "reason", reason, "message", message)
	a.event(sb, phase == v1alpha1.PhaseFailed, reason, message)
	return sandboxes.Update(ctx, a.Client, sb, func(st *v1alpha1.SandboxStatus) {
		sandboxes.End(st, phase, reason, message)
	})
}

// execute copies the workspace, starts the command (both only the first
// time) and waits for it to exit.
func (a *Agent) execute(ctx context.Context, sb *v1alpha1.Sandbox, vm string) (exited, error) {
	c, err := dialGuest(ctx, a.Daemon, vm)
	if err != nil {
		return exited{}, err
	}
	defer c.Close()
	started, err := launched(ctx, c)
	if err != nil {
		return exited{}, err
	}
	if sb.Spec.Workspace != nil && !started {
		if err := a.copyWorkspace(ctx, sb, c); err != nil {
			return exited{}, err
		}
	}
	if err := launch(ctx, c, sb.Spec.Command); err != nil {
		return exited{}, err
	}
	for {
		res, err := waitExit(ctx, c)
		if err != nil || res.done || res.lost {
			return res, err
		}
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
