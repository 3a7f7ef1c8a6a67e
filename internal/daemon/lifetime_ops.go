package daemon

import (
	"context"
	"log/slog"

	"banger/internal/operation"
	"banger/internal/vm"
)

// lifetimeOps records the stops and deletes the VM service makes by itself
// (idle stop, time to live) as operations, so `banger ops list` shows them.
func lifetimeOps(ctx context.Context, ops *operation.Service, log *slog.Logger) func(vm.Event) {
	return func(e vm.Event) {
		var kind string
		switch e.Kind {
		case vm.VMIdleStopped:
			kind = "vm idle stop"
		case vm.VMExpired:
			kind = "vm ttl delete"
		default:
			return
		}
		if err := ops.Note(ctx, kind, e.Name, e.Reason); err != nil {
			log.Warn("record operation", "err", err)
		}
	}
}
