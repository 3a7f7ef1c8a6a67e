package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"banger/internal/api"
)

// The daemon keeps every long operation (vm create, start, stop, image
// build, pull, warm) as a record: `banger ops` lists, shows, follows and
// cancels them (see docs/operations.md).

func (a *app) opsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ops",
		Short: "List, follow and cancel the daemon's long operations (create, start, stop, build, pull, warm)",
	}
	var all bool
	list := &cobra.Command{Use: "list", Aliases: []string{"ls"}, Short: "List the running operations and those of the last hour (--all: every record kept)", Args: cobra.NoArgs}
	listCmd(a, list, func(ctx context.Context, c *api.Client, _ []string) ([]api.Operation, error) {
		return c.ListOperations(ctx, all)
	},
		[]string{"ID", "KIND", "TARGET", "STATE", "STEP", "STARTED", "TOOK"}, func(o api.Operation) []string {
			return []string{o.ID, o.Kind, o.Target, o.State, o.Step, ago(o.Started), took(o)}
		})
	list.Flags().BoolVar(&all, "all", false, "every record the daemon keeps (operations_keep), not only the last hour's")
	show := showCmd(a, "Show one operation", (*api.Client).GetOperation, opRows)
	show.Use = "show ID"
	cmd.AddCommand(list, show, a.opsWaitCmd(), a.opsCancelCmd())
	return cmd
}

func opRows(o api.Operation) [][2]string {
	rows := [][2]string{{"id", o.ID}, {"kind", o.Kind}, {"target", o.Target}, {"state", o.State},
		{"step", o.Step}, {"message", o.Message}}
	if o.Total > 0 {
		rows = append(rows, [2]string{"progress", fmt.Sprintf("%d/%d", o.Done, o.Total)})
	}
	rows = append(rows, [2]string{"uid", fmt.Sprint(o.UID)}, [2]string{"started", o.Started.Local().Format(time.DateTime)})
	if !o.Ended.IsZero() {
		rows = append(rows, [2]string{"ended", o.Ended.Local().Format(time.DateTime)})
	}
	rows = append(rows, [2]string{"took", took(o)})
	if o.Error != "" {
		rows = append(rows, [2]string{"error", o.Error})
	}
	return rows
}

// took is how long o ran, or has run so far.
func took(o api.Operation) string {
	end := o.Ended
	if end.IsZero() {
		end = time.Now()
	}
	return end.Sub(o.Started).Round(time.Second).String()
}

// opOutcome is nil for an operation that succeeded, else the error that
// says how it ended.
func opOutcome(o api.Operation) error {
	switch o.State {
	case api.OpSucceeded:
		return nil
	case api.OpRunning:
		return fmt.Errorf("operation %s is still running", o.ID)
	}
	if o.Error != "" {
		return fmt.Errorf("operation %s (%s %s) %s: %s", o.ID, o.Kind, o.Target, o.State, o.Error)
	}
	return fmt.Errorf("operation %s (%s %s) %s", o.ID, o.Kind, o.Target, o.State)
}

func (a *app) opsWaitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "wait ID",
		Short: "Re-attach to an operation: draw its progress until it ends; fails unless it succeeded",
		Args:  cobra.ExactArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, args []string) error {
			o, err := streamed(a, func(onEvent func(api.Event)) (api.Operation, error) {
				return c.WaitOperation(ctx, args[0], onEvent)
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s %s %s %s\n", o.ID, o.Kind, o.Target, o.State)
			return opOutcome(o)
		}),
	}
}

func (a *app) opsCancelCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel an operation: it undoes what it had done, as a failure at that step would",
		Args:  cobra.ExactArgs(1),
		RunE: a.withClient(func(ctx context.Context, c *api.Client, args []string) error {
			o, err := c.CancelOperation(ctx, args[0])
			if err != nil {
				return err
			}
			if o.State != api.OpCancelled {
				fmt.Fprintf(a.stderr, "operation %s had already ended\n", o.ID)
			}
			fmt.Fprintf(a.stdout, "%s %s %s %s\n", o.ID, o.Kind, o.Target, o.State)
			return nil
		}),
	}
}

// interrupts returns the channel that receives Ctrl-C (and SIGTERM) and
// the function that stops the delivery; tests set a.sigs.
func (a *app) interrupts() (<-chan os.Signal, func()) {
	if a.sigs != nil {
		return a.sigs, func() {}
	}
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	return ch, func() { signal.Stop(ch) }
}

// followOp runs start, a request that starts an operation and streams its
// progress, and draws the progress. With detach it prints the operation's
// id once the daemon names it and returns at once (the operation goes on;
// detached is true). Otherwise a Ctrl-C cancels the operation, saying so
// and naming it, and a second one leaves it to the daemon.
func followOp[T any](ctx context.Context, a *app, c *api.Client, detach bool, start func(context.Context, func(api.Event)) (T, error)) (res T, detached bool, err error) {
	sctx, leave := context.WithCancel(ctx)
	defer leave()
	var (
		mu          sync.Mutex
		id          string
		interrupted bool
	)
	cancelOp := func(id string) {
		fmt.Fprintf(a.stderr, "banger: cancelling operation %s; it undoes what it did (Ctrl-C again stops waiting for that)\n", id)
		go func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
			defer cancel()
			if _, err := c.CancelOperation(cctx, id); err != nil {
				fmt.Fprintf(a.stderr, "banger: cancel operation %s: %v\n", id, err)
			}
		}()
	}
	pp := newProgress(a.stderr)
	defer pp.finish()
	onEvent := func(ev api.Event) {
		if detached { // what the stream still held
			return
		}
		op, ok := api.OperationOf(ev)
		if !ok {
			pp.event(ev)
			return
		}
		mu.Lock()
		id = op.ID
		pending := interrupted
		mu.Unlock()
		switch {
		case detach:
			fmt.Fprintln(a.stdout, op.ID)
			fmt.Fprintf(a.stderr, "operation %s (%s %s) goes on: `banger ops wait %s` follows it, `banger ops cancel %s` cancels it\n",
				op.ID, op.Kind, op.Target, op.ID, op.ID)
			detached = true
			leave()
		case pending:
			cancelOp(op.ID)
		}
	}
	if !detach {
		sigs, stop := a.interrupts()
		defer stop()
		go onInterrupt(sctx, sigs, stop, leave, func() {
			mu.Lock()
			interrupted = true
			known := id
			mu.Unlock()
			if known != "" {
				cancelOp(known)
			} else {
				fmt.Fprintln(a.stderr, "banger: cancelling once the daemon names the operation")
			}
		})
	}
	res, err = start(sctx, onEvent)
	mu.Lock()
	defer mu.Unlock()
	if detached {
		return res, true, nil
	}
	if err != nil && interrupted && id != "" {
		return res, false, fmt.Errorf("operation %s cancelled (see `banger ops show %s`): %w", id, id, err)
	}
	return res, false, err
}

// onInterrupt calls first on the first signal from sigs, after stopping
// their delivery (a real second Ctrl-C then ends the process), and leave
// on a second one; it returns when ctx ends.
func onInterrupt(ctx context.Context, sigs <-chan os.Signal, stop, leave, first func()) {
	select {
	case <-sigs:
	case <-ctx.Done():
		return
	}
	stop()
	first()
	select {
	case <-sigs:
		leave()
	case <-ctx.Done():
	}
}
