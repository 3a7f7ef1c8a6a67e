package controller

import (
	"context"
	"log/slog"

	"banger/internal/kube/manager"
)

// Options are banger-controller's flags.
type Options struct {
	manager.Options
	LauncherImage string
}

// Run runs the controller until ctx ends.
func Run(ctx context.Context, o Options) error {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	o.LeaderID = "banger-controller.banger.dev"
	mgr, err := manager.New(o.Options)
	if err != nil {
		return err
	}
	r := &Reconciler{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), LauncherImage: o.LauncherImage,
		Events: mgr.GetEventRecorderFor("banger-controller")}
	if err := r.SetupWithManager(mgr); err != nil {
		return err
	}
	o.Log.Info("banger-controller starting", "launcher_image", nonEmpty(r.LauncherImage, DefaultLauncherImage), "leader_elect", o.LeaderElect)
	return mgr.Start(ctx)
}
