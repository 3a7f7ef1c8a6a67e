package node

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	"banger/internal/api"
	"banger/internal/kube/sandboxes"
	"banger/internal/kube/v1alpha1"
)

// release tears down a deleted Sandbox's VM, then its launcher Pod, and
// lets the Sandbox go.
func (a *Agent) release(ctx context.Context, sb *v1alpha1.Sandbox, pod *corev1.Pod, vm string) error {
	a.runs.stop(sb.UID)
	if err := a.deleteVM(ctx, vm); err != nil {
		return err
	}
	if err := sandboxes.DeleteLauncher(ctx, a.Client, pod, false); err != nil {
		return err
	}
	return sandboxes.SetFinalizer(ctx, a.Client, sb, false)
}

// run makes sure sb's VM exists and runs, its status says so, its
// command is being watched and its time to live is kept.
func (a *Agent) run(ctx context.Context, sb *v1alpha1.Sandbox, name string) (ctrl.Result, error) {
	gctx, cancel := context.WithTimeout(ctx, callTimeout)
	vm, err := a.Daemon.GetVM(gctx, name)
	cancel()
	switch {
	case isNotFound(err) && (sb.Status.Phase == v1alpha1.PhaseRunning):
		a.runs.stop(sb.UID)
		return ctrl.Result{}, sandboxes.Update(ctx, a.Client, sb, func(st *v1alpha1.SandboxStatus) {
			sandboxes.End(st, v1alpha1.PhaseFailed, "VMLost", "VM "+name+" is gone from node "+a.NodeName)
		})
	case isNotFound(err):
		if vm, err = a.create(ctx, sb, name); err != nil {
			return ctrl.Result{}, err
		}
	case err != nil:
		return ctrl.Result{}, fmt.Errorf("get VM %s: %w", name, err)
	}
	if vm.Name == "" { // being made by an earlier incarnation of the agent
		return ctrl.Result{RequeueAfter: requeueSoon}, nil
	}
	if vm.State != "running" && sb.Status.Phase == v1alpha1.PhaseStarting && time.Since(vm.CreatedAt) < startGrace {
		return ctrl.Result{RequeueAfter: requeueSoon}, nil // still being started
	}
	if vm.State != "running" {
		a.runs.stop(sb.UID)
		return ctrl.Result{}, sandboxes.Update(ctx, a.Client, sb, func(st *v1alpha1.SandboxStatus) {
			sandboxes.End(st, v1alpha1.PhaseFailed, "VMStopped", "VM "+name+" is "+vm.State)
		})
	}
	if err := a.markRunning(ctx, sb, vm); err != nil {
		return ctrl.Result{}, err
	}
	if sb.Status.Phase.Final() { // ended meanwhile: the next pass deletes the VM
		return ctrl.Result{Requeue: true}, nil
	}
	return a.keep(ctx, sb, name)
}

// startGrace is how long a VM found not running while its sandbox starts
// is taken to be still starting (made by an earlier incarnation of the
// agent).
const startGrace = 10 * time.Minute

// create makes sb's VM and starts it. A VM of that name that appears
// meanwhile (made by an earlier incarnation of the agent whose create the
// daemon finished) is adopted: the zero VM tells the caller to look again.
func (a *Agent) create(ctx context.Context, sb *v1alpha1.Sandbox, name string) (api.VM, error) {
	if err := sandboxes.Update(ctx, a.Client, sb, func(st *v1alpha1.SandboxStatus) {
		if !st.Phase.Final() {
			st.Phase, st.Node, st.VM = v1alpha1.PhaseStarting, a.NodeName, name
		}
	}); err != nil {
		return api.VM{}, err
	}
	if sb.Status.Phase.Final() { // ended meanwhile (e.g. its Pod was evicted): make nothing
		return api.VM{}, nil
	}
	req, err := createRequest(sb, name)
	if err != nil {
		return api.VM{}, sandboxes.Update(ctx, a.Client, sb, func(st *v1alpha1.SandboxStatus) {
			sandboxes.End(st, v1alpha1.PhaseFailed, "InvalidSpec", err.Error())
		})
	}
	a.Log.InfoContext(ctx, "creating VM", "vm", name, "sandbox", sb.Namespace+"/"+sb.Name, "image", req.Image)
	a.event(sb, false, "CreatingVM", "creating VM "+name+" on "+a.NodeName)
	cctx, cancel := context.WithTimeout(ctx, startGrace)
	defer cancel()
	vm, err := a.Daemon.CreateVM(cctx, req, nil)
	if isAlreadyExists(err) {
		return api.VM{}, nil
	}
	if err != nil {
		a.Log.WarnContext(ctx, "create VM failed", "vm", name, "err", err)
		a.event(sb, true, "VMFailed", "create VM "+name+": "+err.Error())
		return api.VM{}, sandboxes.Update(ctx, a.Client, sb, func(st *v1alpha1.SandboxStatus) {
			sandboxes.End(st, v1alpha1.PhaseFailed, "VMFailed", "create VM "+name+": "+err.Error())
		})
	}
	return vm, nil
}

// createRequest is the daemon request for sb's VM. The VM gets a TTL
// past the sandbox's by the longest a start may take and a minute (the
// sandbox's counts from when the VM is up, the daemon's from now), so
// that the daemon deletes it even when no agent is left to do so.
func createRequest(sb *v1alpha1.Sandbox, name string) (api.CreateVM, error) {
	off := "off"
	vcpus, mem := sb.Spec.Shape()
	if mem.Cmp(v1alpha1.MinMemory) < 0 {
		return api.CreateVM{}, fmt.Errorf("memory %s: a VM needs at least %s", mem.String(), v1alpha1.MinMemory.String())
	}
	req := api.CreateVM{Name: name, Image: sb.Spec.Image, VCPUs: int(vcpus), NAT: sb.Spec.NAT, AutoStop: off,
		MemoryMiB: int((mem.Value() + (1<<20 - 1)) >> 20)}
	if sb.Spec.Disk != nil && !sb.Spec.Disk.IsZero() {
		req.DiskSize = fmt.Sprintf("%dM", (sb.Spec.Disk.Value()+(1<<20-1))>>20)
	}
	if sb.Spec.TTL != nil && sb.Spec.TTL.Duration > 0 {
		req.TTL = (sb.Spec.TTL.Duration + startGrace + time.Minute).String()
	}
	return req, nil
}

// markRunning records that vm is up.
func (a *Agent) markRunning(ctx context.Context, sb *v1alpha1.Sandbox, vm api.VM) error {
	if sb.Status.Phase == v1alpha1.PhaseRunning && sb.Status.IP == vm.IP {
		return nil
	}
	if sb.Status.Phase != v1alpha1.PhaseRunning && !sb.Status.Phase.Final() {
		a.event(sb, false, "VMRunning", "VM "+vm.Name+" runs on "+a.NodeName+" at "+vm.IP)
	}
	return sandboxes.Update(ctx, a.Client, sb, func(st *v1alpha1.SandboxStatus) {
		if st.Phase.Final() {
			return
		}
		st.Phase, st.Node, st.VM, st.IP = v1alpha1.PhaseRunning, a.NodeName, vm.Name, vm.IP
		if st.StartTime == nil {
			now := metav1.NewTime(time.Now())
			st.StartTime = &now
		}
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue,
			Reason: "VMRunning", Message: "VM " + vm.Name + " runs on " + a.NodeName})
	})
}

// keep watches the running sandbox's command and ends it when its time to
// live is up.
func (a *Agent) keep(ctx context.Context, sb *v1alpha1.Sandbox, name string) (ctrl.Result, error) {
	if sb.Spec.TTL != nil && sb.Spec.TTL.Duration > 0 && sb.Status.StartTime != nil {
		left := time.Until(sb.Status.StartTime.Add(sb.Spec.TTL.Duration))
		if left <= 0 {
			a.runs.stop(sb.UID)
			phase, reason, msg := v1alpha1.PhaseSucceeded, "Expired", "its ttl of "+sb.Spec.TTL.Duration.String()+" ended"
			if len(sb.Spec.Command) > 0 {
				phase, reason, msg = v1alpha1.PhaseFailed, "DeadlineExceeded", "the command ran past the ttl of "+sb.Spec.TTL.Duration.String()
			}
			return ctrl.Result{}, sandboxes.Update(ctx, a.Client, sb, func(st *v1alpha1.SandboxStatus) {
				sandboxes.End(st, phase, reason, msg)
			})
		}
		a.watchCommand(ctx, sb, name)
		return ctrl.Result{RequeueAfter: min(left, recheck)}, nil
	}
	a.watchCommand(ctx, sb, name)
	return ctrl.Result{RequeueAfter: recheck}, nil
}

// recheck is how often a running sandbox's VM is looked at (a VM that
// died or was stopped ends its sandbox).
const recheck = 30 * time.Second

// watchCommand starts the runner of sb's command unless one runs.
func (a *Agent) watchCommand(ctx context.Context, sb *v1alpha1.Sandbox, vm string) {
	if len(sb.Spec.Command) == 0 {
		return
	}
	cp := sb.DeepCopy()
	if a.runs.ensure(sb.UID, func(rctx context.Context) { a.watch(rctx, *cp, vm) }) {
		a.Log.InfoContext(ctx, "watching the command", "sandbox", sb.Namespace+"/"+sb.Name, "vm", vm)
	}
}
