// Package node is banger-node, the node agent: on each node of a cluster
// it advertises how many sandboxes the node may run (the banger.dev/vm
// extended resource), and for every launcher Pod kube-scheduler binds to
// the node it creates the Sandbox's VM through the local bangerd, runs
// its command, writes its status and, when the Sandbox ends or is
// deleted, deletes the VM. It keeps no state of its own: a restarted
// agent finds its VMs by name and adopts them (see docs/kubernetes.md).
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"

	"banger/internal/api"
	"banger/internal/kube/sandboxes"
	"banger/internal/kube/v1alpha1"
)

// Daemon is what the agent asks of the node's bangerd (*api.Client).
type Daemon interface {
	ListVMs(ctx context.Context) ([]api.VM, error)
	GetVM(ctx context.Context, name string) (api.VM, error)
	CreateVM(ctx context.Context, req api.CreateVM, onEvent func(api.Event)) (api.VM, error)
	DeleteVM(ctx context.Context, name string) error
	SSHTarget(ctx context.Context, name string) (api.SSHTarget, error)
	Connect(ctx context.Context, name string) (io.ReadWriteCloser, error)
}

// VMPrefix starts the name of every VM the agent makes; the rest is the
// start of its Sandbox's UID. The node's daemon should hold no other VMs
// of that prefix: the agent deletes those no Sandbox owns.
const VMPrefix = "sb-"

// VMName is the VM of the Sandbox with uid.
func VMName(uid types.UID) string {
	s := strings.ReplaceAll(string(uid), "-", "")
	if len(s) > 20 {
		s = s[:20]
	}
	return VMPrefix + strings.ToLower(s)
}

// Agent is one node's agent.
type Agent struct {
	Client   client.Client
	Daemon   Daemon
	NodeName string
	// Capacity is how many sandboxes the node may run at once.
	Capacity int64
	// GitSchemes are the URL schemes a workspace may be cloned over;
	// nil: https only.
	GitSchemes []string
	// GitCredential is who git runs as; nil: nobody (65534) when the
	// agent runs as root, else the agent's own user.
	GitCredential *syscall.Credential
	Log           *slog.Logger
	// Events records what happens to a Sandbox for `kubectl describe`;
	// nil: none.
	Events record.EventRecorder
	// Workers is how many Sandboxes are reconciled at once (VM creations
	// run in parallel up to this).
	Workers int

	runs *runners
	// fetches holds a slot per workspace being fetched and copied.
	fetches chan struct{}
	// retryPause is the first pause after a failed command step (it
	// doubles up to 30 s).
	retryPause time.Duration
}

// maxFetches is how many workspaces a node fetches and copies at once.
const maxFetches = 2

// defaults fills in what the agent's owner left unset.
func (a *Agent) defaults() {
	if a.Log == nil {
		a.Log = slog.Default()
	}
	if len(a.GitSchemes) == 0 {
		a.GitSchemes = []string{"https"}
	}
	if a.GitCredential == nil && os.Geteuid() == 0 {
		a.GitCredential = &syscall.Credential{Uid: 65534, Gid: 65534}
	}
	a.runs, a.fetches = newRunners(), make(chan struct{}, maxFetches)
	if a.retryPause == 0 {
		a.retryPause = time.Second
	}
}

// SetupWithManager registers the agent's reconciler and its background
// loops (capacity, garbage collection) with mgr.
func (a *Agent) SetupWithManager(mgr ctrl.Manager) error {
	a.defaults()
	workers := a.Workers
	if workers < 1 {
		workers = 4
	}
	err := ctrl.NewControllerManagedBy(mgr).
		Named("sandbox-node").
		For(&v1alpha1.Sandbox{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(), &v1alpha1.Sandbox{}, handler.OnlyControllerOwner())).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers}).
		Complete(a)
	if err != nil {
		return err
	}
	return mgr.Add(loops{a: a, synced: mgr.GetCache().WaitForCacheSync})
}

// Reconcile brings the VM of one Sandbox placed on this node in line with
// the Sandbox.
func (a *Agent) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var sb v1alpha1.Sandbox
	if err := a.Client.Get(ctx, req.NamespacedName, &sb); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	pod, err := a.launcher(ctx, &sb)
	if err != nil {
		return ctrl.Result{}, err
	}
	if sb.Status.Node != a.NodeName && (pod == nil || pod.Spec.NodeName != a.NodeName) {
		return ctrl.Result{}, nil // another node's, or not placed yet
	}
	vm := VMName(sb.UID)
	switch {
	case !sb.DeletionTimestamp.IsZero():
		return ctrl.Result{}, a.release(ctx, &sb, pod, vm)
	case sb.Status.Phase.Final():
		a.runs.stop(sb.UID)
		return ctrl.Result{}, a.deleteVM(ctx, vm)
	case pod == nil:
		return ctrl.Result{}, nil // the controller ends the sandbox
	}
	return a.run(ctx, &sb, vm)
}

// launcher is sb's launcher Pod when it is bound to this node (the
// manager's cache holds only those), else nil.
func (a *Agent) launcher(ctx context.Context, sb *v1alpha1.Sandbox) (*corev1.Pod, error) {
	var pod corev1.Pod
	key := types.NamespacedName{Namespace: sb.Namespace, Name: v1alpha1.LauncherName(sb.Name)}
	if err := a.Client.Get(ctx, key, &pod); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get launcher pod %s: %w", key, err)
	}
	if pod.Labels[v1alpha1.LabelSandbox] != string(sb.UID) {
		return nil, nil
	}
	return &pod, nil
}

// event records one event about sb.
func (a *Agent) event(sb *v1alpha1.Sandbox, warning bool, reason, message string) {
	sandboxes.Event(a.Events, sb, warning, reason, message)
}

// deleteVM deletes the VM name if it exists.
func (a *Agent) deleteVM(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, deleteTimeout)
	defer cancel()
	err := a.Daemon.DeleteVM(ctx, name)
	if err == nil {
		a.Log.InfoContext(ctx, "deleted VM", "vm", name)
		return nil
	}
	if isNotFound(err) {
		return nil
	}
	return fmt.Errorf("delete VM %s: %w", name, err)
}

func isNotFound(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Kind == api.KindNotFound
}

func isAlreadyExists(err error) bool {
	var ae *api.Error
	return errors.As(err, &ae) && ae.Kind == api.KindAlreadyExists
}

// callTimeout bounds one call to the daemon other than a VM's creation
// (startGrace) and deletion (deleteTimeout, which may wait for the VM to
// stop).
const (
	callTimeout   = time.Minute
	deleteTimeout = 3 * time.Minute
)

// requeueSoon is how soon a sandbox waiting on something outside the API
// server (a VM being made elsewhere, a deadline) is looked at again.
const requeueSoon = 5 * time.Second
