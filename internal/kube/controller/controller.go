// Package controller is banger-controller's reconciler. For every Sandbox
// it keeps one launcher Pod that asks for the sandbox's CPU and memory and
// one banger.dev/vm, so that kube-scheduler, with the cluster's quotas,
// priorities and taints, chooses the sandbox's node; the node agent there
// runs the VM (internal/kube/node). It is level-triggered: every decision
// is made again from what the API server holds, so it may restart at any
// time.
package controller

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"banger/internal/kube/sandboxes"
	"banger/internal/kube/v1alpha1"
)

// DefaultLauncherImage is the launcher Pod's container: it only holds the
// sandbox's place on its node (and its resources in the kubelet's books).
const DefaultLauncherImage = "registry.k8s.io/pause:3.10"

// Reconciler reconciles Sandboxes with their launcher Pods.
type Reconciler struct {
	Client client.Client
	// Reader reads from the API server itself, for what the cache does
	// not hold (a Pod that is not a launcher); nil: Client.
	Reader        client.Reader
	LauncherImage string
	// Events records what happens to a Sandbox for `kubectl describe`;
	// nil: none.
	Events record.EventRecorder
}

// event records one event about sb.
func (r *Reconciler) event(sb *v1alpha1.Sandbox, warning bool, reason, message string) {
	sandboxes.Event(r.Events, sb, warning, reason, message)
}

// SetupWithManager registers r with mgr: it watches Sandboxes and the Pods
// they own.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("sandbox").
		For(&v1alpha1.Sandbox{}).
		Owns(&corev1.Pod{}).
		Complete(r)
}

// Reconcile brings one Sandbox's launcher Pod and placement status in line.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	var sb v1alpha1.Sandbox
	if err := r.Client.Get(ctx, req.NamespacedName, &sb); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	pod, err := r.launcher(ctx, &sb)
	if err != nil {
		return ctrl.Result{}, err
	}
	if !sb.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.release(ctx, &sb, pod)
	}
	if err := sandboxes.SetFinalizer(ctx, r.Client, &sb, true); err != nil {
		return ctrl.Result{}, err
	}
	if sb.Status.Phase.Final() {
		// The node agent has deleted the VM: free the sandbox's place.
		return ctrl.Result{}, sandboxes.DeleteLauncher(ctx, r.Client, pod, false)
	}
	if pod == nil {
		if sb.Status.Node != "" {
			// Bound once and gone since: evicted, preempted or deleted.
			r.event(&sb, true, "LauncherDeleted", "the launcher Pod on "+sb.Status.Node+" was deleted (evicted or preempted)")
			return ctrl.Result{}, sandboxes.Update(ctx, r.Client, &sb, func(st *v1alpha1.SandboxStatus) {
				sandboxes.End(st, v1alpha1.PhaseFailed, "LauncherDeleted", "the launcher Pod on "+st.Node+" was deleted (evicted or preempted)")
			})
		}
		return ctrl.Result{}, r.createPod(ctx, &sb)
	}
	return ctrl.Result{}, r.placement(ctx, &sb, pod)
}

// launcher is sb's launcher Pod, or nil when there is none (the cache
// holds launchers only: a Pod of that name that is not one shows when the
// create fails, see nameTaken). A launcher of an earlier Sandbox of the
// same name is deleted.
func (r *Reconciler) launcher(ctx context.Context, sb *v1alpha1.Sandbox) (*corev1.Pod, error) {
	var pod corev1.Pod
	key := types.NamespacedName{Namespace: sb.Namespace, Name: v1alpha1.LauncherName(sb.Name)}
	if err := r.Client.Get(ctx, key, &pod); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get launcher pod %s: %w", key, err)
	}
	uid, ours := pod.Labels[v1alpha1.LabelSandbox]
	switch {
	case uid == string(sb.UID):
		return &pod, nil
	case ours:
		if err := sandboxes.DeleteLauncher(ctx, r.Client, &pod, false); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("launcher pod %s belonged to an earlier sandbox %s; deleted it, will try again", key, sb.Name)
	}
	return nil, nil
}

// release handles a deleted Sandbox: once it was placed on a node, that
// node's agent deletes the VM and lets it go; otherwise no VM can exist
// yet, and the Pod and finalizer go here. The Pod is deleted only as it
// was read (unbound): should kube-scheduler bind it meanwhile, the delete
// fails, and the next pass leaves it to the node.
func (r *Reconciler) release(ctx context.Context, sb *v1alpha1.Sandbox, pod *corev1.Pod) error {
	if !controllerutil.ContainsFinalizer(sb, v1alpha1.Finalizer) {
		return nil
	}
	if sb.Status.Node != "" || (pod != nil && pod.Spec.NodeName != "") {
		return nil // the node agent's job
	}
	if err := sandboxes.DeleteLauncher(ctx, r.Client, pod, true); err != nil {
		return err
	}
	return sandboxes.SetFinalizer(ctx, r.Client, sb, false)
}

func (r *Reconciler) createPod(ctx context.Context, sb *v1alpha1.Sandbox) error {
	image := r.LauncherImage
	if image == "" {
		image = DefaultLauncherImage
	}
	pod := LauncherPod(sb, image)
	if err := controllerutil.SetControllerReference(sb, pod, r.Client.Scheme()); err != nil {
		return fmt.Errorf("own launcher pod %s: %w", pod.Name, err)
	}
	err := r.Client.Create(ctx, pod)
	switch {
	case apierrors.IsAlreadyExists(err):
		return r.nameTaken(ctx, sb, pod)
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "exceeded quota"):
		// Wait, as a Job does, until the namespace's quota has room.
		if uerr := sandboxes.Update(ctx, r.Client, sb, func(st *v1alpha1.SandboxStatus) {
			st.Phase = v1alpha1.PhasePending
			meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionScheduled, Status: metav1.ConditionFalse, Reason: "QuotaExceeded", Message: err.Error()})
		}); uerr != nil {
			return uerr
		}
		return fmt.Errorf("create launcher pod %s/%s: %w", pod.Namespace, pod.Name, err)
	case apierrors.IsForbidden(err) || apierrors.IsInvalid(err):
		// Refused for good: a namespace's Pod Security or LimitRange, an
		// invalid toleration.
		r.event(sb, true, "LauncherRejected", err.Error())
		return sandboxes.Update(ctx, r.Client, sb, func(st *v1alpha1.SandboxStatus) {
			sandboxes.End(st, v1alpha1.PhaseFailed, "LauncherRejected", "the launcher Pod was refused: "+err.Error())
		})
	case err != nil:
		return fmt.Errorf("create launcher pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	r.event(sb, false, "LauncherCreated", "created launcher pod "+pod.Name)
	if sb.Status.Phase != "" {
		return nil
	}
	return sandboxes.Update(ctx, r.Client, sb, func(st *v1alpha1.SandboxStatus) {
		if st.Phase == "" {
			st.Phase = v1alpha1.PhasePending
		}
	})
}

// nameTaken handles a Pod of the launcher's name that the cache does not
// hold: made for this Sandbox a moment ago (the cache has not seen it
// yet), or a Pod that is not a launcher, which makes the Sandbox fail.
func (r *Reconciler) nameTaken(ctx context.Context, sb *v1alpha1.Sandbox, want *corev1.Pod) error {
	reader := r.Reader
	if reader == nil {
		reader = r.Client
	}
	var pod corev1.Pod
	if err := reader.Get(ctx, client.ObjectKeyFromObject(want), &pod); err != nil {
		return fmt.Errorf("get pod %s/%s: %w", want.Namespace, want.Name, err)
	}
	if _, ours := pod.Labels[v1alpha1.LabelSandbox]; ours {
		return nil // a launcher: the cache will show it
	}
	r.event(sb, true, "NameTaken", "pod "+want.Name+" exists and is not a launcher")
	return sandboxes.Update(ctx, r.Client, sb, func(st *v1alpha1.SandboxStatus) {
		sandboxes.End(st, v1alpha1.PhaseFailed, "NameTaken", "pod "+want.Name+" exists and is not a launcher; rename the sandbox")
	})
}

// placement copies the launcher Pod's scheduling into sb's status: its
// node once bound, else why kube-scheduler has not placed it.
func (r *Reconciler) placement(ctx context.Context, sb *v1alpha1.Sandbox, pod *corev1.Pod) error {
	cond := metav1.Condition{Type: v1alpha1.ConditionScheduled, Status: metav1.ConditionFalse, Reason: "Pending", Message: "waiting for kube-scheduler"}
	if pod.Spec.NodeName != "" {
		cond = metav1.Condition{Type: v1alpha1.ConditionScheduled, Status: metav1.ConditionTrue, Reason: "Scheduled", Message: "placed on " + pod.Spec.NodeName}
	} else if pc := podCondition(pod, corev1.PodScheduled); pc != nil && pc.Status == corev1.ConditionFalse {
		cond.Reason, cond.Message = nonEmpty(pc.Reason, "Pending"), pc.Message
	}
	if old := meta.FindStatusCondition(sb.Status.Conditions, cond.Type); old != nil &&
		old.Status == cond.Status && old.Reason == cond.Reason && old.Message == cond.Message && sb.Status.Node == pod.Spec.NodeName {
		return nil
	}
	// (The node's agent may have written Node first; the condition is
	// the controller's own record of having seen the binding.)
	if pod.Spec.NodeName != "" && !meta.IsStatusConditionTrue(sb.Status.Conditions, v1alpha1.ConditionScheduled) {
		r.event(sb, false, "Scheduled", "placed on "+pod.Spec.NodeName)
	}
	return sandboxes.Update(ctx, r.Client, sb, func(st *v1alpha1.SandboxStatus) {
		meta.SetStatusCondition(&st.Conditions, cond)
		if pod.Spec.NodeName == "" {
			return
		}
		st.Node = pod.Spec.NodeName
		if st.Phase == "" || st.Phase == v1alpha1.PhasePending {
			st.Phase = v1alpha1.PhaseScheduled
		}
	})
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func nonEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
