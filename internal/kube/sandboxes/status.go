// Package sandboxes is what banger-controller and banger-node both do to a
// Sandbox: write its status (read, change, write, again on a conflict),
// end it, set its finalizer, delete its launcher Pod, record its events.
package sandboxes

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"banger/internal/kube/v1alpha1"
)

// Update applies change to sb's status and writes it through the status
// subresource. On a conflict it reads sb again and applies change to the
// fresh copy; a change that alters nothing writes nothing. sb holds what
// was written.
func Update(ctx context.Context, c client.Client, sb *v1alpha1.Sandbox, change func(*v1alpha1.SandboxStatus)) error {
	first := true
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		if !first {
			if err := c.Get(ctx, client.ObjectKeyFromObject(sb), sb); err != nil {
				return err
			}
		}
		first = false
		before := sb.Status.DeepCopy()
		change(&sb.Status)
		if reflect.DeepEqual(before, &sb.Status) {
			return nil
		}
		return c.Status().Update(ctx, sb)
	})
	if err != nil {
		return fmt.Errorf("update the status of sandbox %s/%s: %w", sb.Namespace, sb.Name, err)
	}
	return nil
}

// End puts st in final phase with reason and message, stamps its end
// time and marks it Completed and no longer Ready. A final status stays
// as it is.
func End(st *v1alpha1.SandboxStatus, phase v1alpha1.Phase, reason, message string) {
	if st.Phase.Final() {
		return
	}
	st.Phase, st.Reason, st.Message = phase, reason, message
	now := metav1.NewTime(time.Now())
	st.EndTime = &now
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionCompleted, Status: metav1.ConditionTrue, Reason: reason, Message: message})
	if meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionReady) != nil {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: reason, Message: "the sandbox has ended"})
	}
}
