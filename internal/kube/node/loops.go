package node

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"banger/internal/kube/v1alpha1"
)

// loopEvery is how often the agent re-asserts its node's capacity and
// looks for VMs no Sandbox owns.
const loopEvery = 30 * time.Second

// loops runs the agent's background work as a manager Runnable: once at
// the start (after the cache has synced) and then every loopEvery.
type loops struct {
	a *Agent
	// synced waits for the manager's caches: collecting before they hold
	// every Sandbox would take live VMs for orphans.
	synced func(ctx context.Context) bool
}

// NeedLeaderElection is false: every node runs its own agent.
func (loops) NeedLeaderElection() bool { return false }

func (l loops) Start(ctx context.Context) error {
	defer l.a.runs.close()
	if !l.synced(ctx) {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("the caches did not sync")
	}
	t := time.NewTicker(loopEvery)
	defer t.Stop()
	for {
		if err := l.a.advertise(ctx); err != nil {
			l.a.Log.WarnContext(ctx, "advertise capacity", "err", err)
		}
		if err := l.a.collect(ctx); err != nil {
			l.a.Log.WarnContext(ctx, "collect VMs", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// advertise sets the node's banger.dev/vm capacity and allocatable (a
// kubelet derives allocatable from capacity itself; setting both serves
// clusters whose kubelet has not yet done so).
func (a *Agent) advertise(ctx context.Context) error {
	var n corev1.Node
	if err := a.Client.Get(ctx, client.ObjectKey{Name: a.NodeName}, &n); err != nil {
		return fmt.Errorf("get node %s: %w", a.NodeName, err)
	}
	want := *resource.NewQuantity(a.Capacity, resource.DecimalSI)
	if c, ok := n.Status.Capacity[v1alpha1.ResourceVM]; ok && c.Equal(want) {
		if al, ok := n.Status.Allocatable[v1alpha1.ResourceVM]; ok && al.Equal(want) {
			return nil
		}
	}
	patch := client.MergeFrom(n.DeepCopy())
	if n.Status.Capacity == nil {
		n.Status.Capacity = corev1.ResourceList{}
	}
	if n.Status.Allocatable == nil {
		n.Status.Allocatable = corev1.ResourceList{}
	}
	n.Status.Capacity[v1alpha1.ResourceVM] = want
	n.Status.Allocatable[v1alpha1.ResourceVM] = want
	if err := a.Client.Status().Patch(ctx, &n, patch); err != nil {
		return fmt.Errorf("advertise %s=%d on node %s: %w", v1alpha1.ResourceVM, a.Capacity, a.NodeName, err)
	}
	a.Log.InfoContext(ctx, "advertised capacity", "node", a.NodeName, "resource", v1alpha1.ResourceVM, "count", a.Capacity)
	return nil
}

// collect deletes the daemon's sandbox VMs whose Sandbox no longer
// exists (deleted while no agent ran, or a create that raced a delete).
func (a *Agent) collect(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, callTimeout)
	vms, err := a.Daemon.ListVMs(lctx)
	cancel()
	if err != nil {
		return fmt.Errorf("list VMs: %w", err)
	}
	var list v1alpha1.SandboxList
	if err := a.Client.List(ctx, &list); err != nil {
		return fmt.Errorf("list sandboxes: %w", err)
	}
	owned := map[string]bool{}
	for _, sb := range list.Items {
		owned[VMName(sb.UID)] = true
	}
	for _, vm := range vms {
		if !strings.HasPrefix(vm.Name, VMPrefix) || owned[vm.Name] {
			continue
		}
		a.Log.InfoContext(ctx, "deleting a VM no sandbox owns", "vm", vm.Name)
		if err := a.deleteVM(ctx, vm.Name); err != nil {
			return err
		}
	}
	return nil
}
