package manager

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"banger/internal/kube/v1alpha1"
)

// Options are the flags both components share.
type Options struct {
	Kubeconfig  string
	MetricsAddr string // "0": off
	HealthAddr  string // "0" or "": off
	// LeaderElect runs one active manager among replicas, through a Lease
	// named LeaderID in the kubeconfig's namespace.
	LeaderElect bool
	LeaderID    string
	// NodeName, when set, narrows the cached launcher Pods to those bound
	// to that node.
	NodeName string
	Log      *slog.Logger
}

// New makes a manager whose cache holds Sandboxes and launcher Pods only
// (not every Pod of the cluster), serving /healthz and /readyz when
// o.HealthAddr is set.
func New(o Options) (ctrl.Manager, error) {
	cfg, ns, err := Load(o.Kubeconfig)
	if err != nil {
		return nil, err
	}
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	log := logr.FromSlogHandler(o.Log.Handler())
	// client-go's informers log through controller-runtime's global
	// logger; unset, it prints a warning with a stack after 30 s.
	ctrl.SetLogger(log)
	pods := cache.ByObject{Label: launcherSelector()}
	if o.NodeName != "" {
		pods.Field = fields.OneTermEqualSelector("spec.nodeName", o.NodeName)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Logger:                  log,
		Metrics:                 metricsserver.Options{BindAddress: nonEmpty(o.MetricsAddr, "0")},
		HealthProbeBindAddress:  o.HealthAddr,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        o.LeaderID,
		LeaderElectionNamespace: ns,
		Cache:                   cache.Options{ByObject: map[client.Object]cache.ByObject{&corev1.Pod{}: pods}},
		// Workspaces are read one at a time: no cluster-wide cache (and
		// list/watch rights) of every ConfigMap and Secret.
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.ConfigMap{}, &corev1.Secret{}}}},
	})
	if err != nil {
		return nil, fmt.Errorf("make the manager: %w", err)
	}
	if o.HealthAddr != "" && o.HealthAddr != "0" {
		ping := func(*http.Request) error { return nil }
		if err := mgr.AddHealthzCheck("ping", ping); err != nil {
			return nil, err
		}
		if err := mgr.AddReadyzCheck("ping", ping); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

// launcherSelector selects the launcher Pods (those with a Sandbox UID
// label).
func launcherSelector() labels.Selector {
	req, err := labels.NewRequirement(v1alpha1.LabelSandbox, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant, valid label key
	}
	return labels.NewSelector().Add(*req)
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
