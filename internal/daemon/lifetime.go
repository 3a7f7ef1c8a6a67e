package daemon

import (
	"time"

	"banger/internal/api"
	"banger/internal/config"
	"banger/internal/vm"
)

// lifetimes is the idle stop and time to live watch cfg asks for.
func lifetimes(cfg *config.Config) (vm.Lifetimes, error) {
	autoStop, err := cfg.AutoStopDuration()
	if err != nil {
		return vm.Lifetimes{}, err
	}
	every, err := cfg.LifetimeCheckDuration()
	if err != nil {
		return vm.Lifetimes{}, err
	}
	return vm.Lifetimes{AutoStop: autoStop, Interval: every}, nil
}

// lifetimeAPI fills in v's lifetime from in.
func lifetimeAPI(v *api.VM, in vm.Info) {
	v.AutoStopSeconds = int64(in.AutoStop / time.Second)
	v.StoppedReason = in.StoppedReason
	if !in.ExpiresAt.IsZero() {
		v.ExpiresAt = &in.ExpiresAt
	}
	if in.Running && !in.IdleSince.IsZero() {
		v.IdleSince = &in.IdleSince
		if in.AutoStop > 0 {
			at := in.IdleSince.Add(in.AutoStop)
			v.StopsAt = &at
		}
	}
}
