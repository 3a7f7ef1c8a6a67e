package daemon

import (
	"context"
	"log/slog"

	"banger/internal/config"
	"banger/internal/operation"
	"banger/internal/store"
)

// operations is the operation service of a daemon that starts: records
// kept for operations_keep, and the ones a stopped daemon left running
// marked failed.
func operations(ctx context.Context, cfg *config.Config, st *store.Store, log *slog.Logger) (*operation.Service, error) {
	keep, err := cfg.OperationsKeepDuration()
	if err != nil {
		return nil, err
	}
	ops := &operation.Service{Store: st, Keep: keep, Log: log}
	if err := ops.Recover(ctx); err != nil {
		return nil, err
	}
	return ops, nil
}
