package sandboxes

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"banger/internal/kube/v1alpha1"
)

// Event records one event about sb on rec; a nil rec records none.
func Event(rec record.EventRecorder, sb *v1alpha1.Sandbox, warning bool, reason, message string) {
	if rec == nil {
		return
	}
	kind := corev1.EventTypeNormal
	if warning {
		kind = corev1.EventTypeWarning
	}
	rec.Event(sb, kind, reason, message)
}

// SetFinalizer adds (on) or removes sb's finalizer, patched with an
// optimistic lock so that another controller's finalizers are neither
// dropped nor brought back. A Sandbox already gone is no error.
func SetFinalizer(ctx context.Context, c client.Client, sb *v1alpha1.Sandbox, on bool) error {
	if controllerutil.ContainsFinalizer(sb, v1alpha1.Finalizer) == on {
		return nil
	}
	patch := client.MergeFromWithOptions(sb.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if on {
		controllerutil.AddFinalizer(sb, v1alpha1.Finalizer)
	} else {
		controllerutil.RemoveFinalizer(sb, v1alpha1.Finalizer)
	}
	if err := c.Patch(ctx, sb, patch); err != nil && (on || !apierrors.IsNotFound(err)) {
		return fmt.Errorf("set the finalizer of sandbox %s/%s: %w", sb.Namespace, sb.Name, err)
	}
	return nil
}

// DeleteLauncher deletes a launcher Pod at once: it runs nothing that
// needs a grace period (the VM is the node agent's), and its place is
// freed now. Only that Pod (its UID) is deleted and, when asRead, only
// as it was read (its resourceVersion: a Pod bound meanwhile stays, and
// the conflict is the caller's to handle). A Pod already gone is no error.
func DeleteLauncher(ctx context.Context, c client.Client, pod *corev1.Pod, asRead bool) error {
	if pod == nil {
		return nil
	}
	pre := client.Preconditions{UID: &pod.UID}
	if asRead {
		pre.ResourceVersion = &pod.ResourceVersion
	}
	err := c.Delete(ctx, pod, client.GracePeriodSeconds(0), pre)
	if err == nil || apierrors.IsNotFound(err) || (!asRead && apierrors.IsConflict(err)) {
		return nil
	}
	return fmt.Errorf("delete launcher pod %s/%s: %w", pod.Namespace, pod.Name, err)
}
