package controller

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"banger/internal/kube/manager"
	"banger/internal/kube/v1alpha1"
)

func newSandbox(name string) *v1alpha1.Sandbox {
	return &v1alpha1.Sandbox{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name)},
		Spec:       v1alpha1.SandboxSpec{VCPUs: 2, Memory: ptrTo(resource.MustParse("768Mi")), Command: []string{"true"}},
	}
}

func newReconciler(t *testing.T, objs ...client.Object) (*Reconciler, client.Client) {
	t.Helper()
	scheme, err := manager.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithStatusSubresource(&v1alpha1.Sandbox{}).Build()
	return &Reconciler{Client: c}, c
}

func reconcile(t *testing.T, r *Reconciler, name string) {
	t.Helper()
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: name}}); err != nil {
		t.Fatalf("reconcile %s: %v", name, err)
	}
}

func get[T client.Object](t *testing.T, c client.Client, name string, obj T) T {
	t.Helper()
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: name}, obj); err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	return obj
}

func TestLauncherPodRequestsTheSandboxsShape(t *testing.T) {
	r, c := newReconciler(t, newSandbox("a"))
	reconcile(t, r, "a")
	pod := get(t, c, "a-vm", &corev1.Pod{})
	req := pod.Spec.Containers[0].Resources.Requests
	if q := req[corev1.ResourceCPU]; q.Value() != 2 {
		t.Errorf("cpu request %s, want 2", q.String())
	}
	if q := req[corev1.ResourceMemory]; q.Value() != 768<<20 {
		t.Errorf("memory request %s, want 768Mi", q.String())
	}
	if q := req[v1alpha1.ResourceVM]; q.Value() != 1 {
		t.Errorf("%s request %s, want 1", v1alpha1.ResourceVM, q.String())
	}
	if lim := pod.Spec.Containers[0].Resources.Limits[v1alpha1.ResourceVM]; lim.Value() != 1 {
		t.Errorf("an extended resource's limit must equal its request; got %s", lim.String())
	}
	if pod.Labels[v1alpha1.LabelSandbox] != "uid-a" || len(pod.OwnerReferences) != 1 || pod.OwnerReferences[0].Name != "a" {
		t.Errorf("pod not tied to its sandbox: labels %v owners %v", pod.Labels, pod.OwnerReferences)
	}
	sb := get(t, c, "a", &v1alpha1.Sandbox{})
	if sb.Status.Phase != v1alpha1.PhasePending || len(sb.Finalizers) != 1 {
		t.Errorf("sandbox phase %q finalizers %v, want Pending and the finalizer", sb.Status.Phase, sb.Finalizers)
	}
}

func TestPlacementFollowsThePod(t *testing.T) {
	r, c := newReconciler(t, newSandbox("a"))
	events := record.NewFakeRecorder(10)
	r.Events = events
	reconcile(t, r, "a")
	pod := get(t, c, "a-vm", &corev1.Pod{})
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable",
		Message: "0/2 nodes are available: 2 Insufficient banger.dev/vm."}}
	if err := c.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	reconcile(t, r, "a")
	sb := get(t, c, "a", &v1alpha1.Sandbox{})
	cond := meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionScheduled)
	if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != "Unschedulable" || cond.Message == "" {
		t.Fatalf("Scheduled condition %+v, want False/Unschedulable with the scheduler's message", cond)
	}
	pod = get(t, c, "a-vm", &corev1.Pod{})
	pod.Spec.NodeName = "node-b"
	if err := c.Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	reconcile(t, r, "a")
	sb = get(t, c, "a", &v1alpha1.Sandbox{})
	if sb.Status.Node != "node-b" || sb.Status.Phase != v1alpha1.PhaseScheduled || !meta.IsStatusConditionTrue(sb.Status.Conditions, v1alpha1.ConditionScheduled) {
		t.Fatalf("status %+v, want Scheduled on node-b", sb.Status)
	}
	var got []string
	for len(events.Events) > 0 {
		got = append(got, <-events.Events)
	}
	if strings.Join(got, "|") != "Normal LauncherCreated created launcher pod a-vm|Normal Scheduled placed on node-b" {
		t.Errorf("events %q, want the launcher's creation and the placement", got)
	}
}

func TestFinalSandboxFreesItsPlace(t *testing.T) {
	sb := newSandbox("a")
	sb.Status.Phase, sb.Status.Node = v1alpha1.PhaseSucceeded, "node-a"
	r, c := newReconciler(t, sb)
	pod := LauncherPod(sb, "pause")
	if err := c.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	reconcile(t, r, "a")
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "a-vm"}, pod); !apierrors.IsNotFound(err) {
		t.Fatalf("launcher pod of a finished sandbox: %v, want it deleted", err)
	}
}

func TestDeletingAnUnplacedSandbox(t *testing.T) {
	sb := newSandbox("a")
	sb.Finalizers = []string{v1alpha1.Finalizer}
	r, c := newReconciler(t, sb)
	reconcile(t, r, "a") // creates the pod
	if err := c.Delete(context.Background(), get(t, c, "a", &v1alpha1.Sandbox{})); err != nil {
		t.Fatal(err)
	}
	reconcile(t, r, "a")
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "a"}, &v1alpha1.Sandbox{}); !apierrors.IsNotFound(err) {
		t.Errorf("unplaced sandbox after delete: %v, want it gone", err)
	}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "a-vm"}, &corev1.Pod{}); !apierrors.IsNotFound(err) {
		t.Errorf("its launcher pod: %v, want it gone", err)
	}
}

func TestDeletingAPlacedSandboxWaitsForItsNode(t *testing.T) {
	sb := newSandbox("a")
	sb.Finalizers = []string{v1alpha1.Finalizer}
	r, c := newReconciler(t, sb)
	pod := LauncherPod(sb, "pause")
	pod.Spec.NodeName = "node-a"
	if err := c.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete(context.Background(), get(t, c, "a", &v1alpha1.Sandbox{})); err != nil {
		t.Fatal(err)
	}
	reconcile(t, r, "a")
	got := get(t, c, "a", &v1alpha1.Sandbox{})
	if len(got.Finalizers) != 1 {
		t.Errorf("the controller let go of a sandbox whose VM may run on node-a: finalizers %v", got.Finalizers)
	}
}

func TestEvictedLauncherFailsTheSandbox(t *testing.T) {
	sb := newSandbox("a")
	sb.Finalizers = []string{v1alpha1.Finalizer}
	sb.Status.Phase, sb.Status.Node = v1alpha1.PhaseRunning, "node-a"
	r, c := newReconciler(t, sb)
	reconcile(t, r, "a")
	got := get(t, c, "a", &v1alpha1.Sandbox{})
	if got.Status.Phase != v1alpha1.PhaseFailed || got.Status.Reason != "LauncherDeleted" {
		t.Fatalf("status %+v, want Failed/LauncherDeleted", got.Status)
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestForeignPodOfTheLaunchersName: a Pod that is not a launcher (and so
// not in the controller's cache) holds the name: the sandbox fails with
// NameTaken instead of waiting forever.
func TestForeignPodOfTheLaunchersName(t *testing.T) {
	foreign := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a-vm", Namespace: "ns"}}
	r, c := newReconciler(t, newSandbox("a"), foreign)
	reconcile(t, r, "a")
	sb := get(t, c, "a", &v1alpha1.Sandbox{})
	if sb.Status.Phase != v1alpha1.PhaseFailed || sb.Status.Reason != "NameTaken" {
		t.Fatalf("status %+v, want Failed/NameTaken", sb.Status)
	}
	if pod := get(t, c, "a-vm", &corev1.Pod{}); pod.Labels[v1alpha1.LabelSandbox] != "" {
		t.Errorf("the foreign pod was replaced")
	}
}

// TestRejectedLauncher: a launcher the API server refuses for good (Pod
// Security, say) fails the sandbox with the server's reason; a full quota
// keeps it Pending, saying so.
func TestRejectedLauncher(t *testing.T) {
	for _, c := range []struct {
		err         error
		phase       v1alpha1.Phase
		reason      string
		wantRequeue bool
	}{
		{apierrors.NewForbidden(corev1.Resource("pods"), "a-vm", errors.New("violates PodSecurity \"restricted:latest\"")), v1alpha1.PhaseFailed, "LauncherRejected", false},
		{apierrors.NewForbidden(corev1.Resource("pods"), "a-vm", errors.New("exceeded quota: q, requested: banger.dev/vm=1")), v1alpha1.PhasePending, "QuotaExceeded", true},
	} {
		scheme, _ := manager.Scheme()
		cl := fake.NewClientBuilder().WithScheme(scheme).WithObjects(newSandbox("a")).WithStatusSubresource(&v1alpha1.Sandbox{}).
			WithInterceptorFuncs(interceptor.Funcs{Create: func(ctx context.Context, cl client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				if _, ok := obj.(*corev1.Pod); ok {
					return c.err
				}
				return cl.Create(ctx, obj, opts...)
			}}).Build()
		r := &Reconciler{Client: cl}
		_, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "a"}})
		if (err != nil) != c.wantRequeue {
			t.Errorf("%v: reconcile error %v, want an error (a retry) %v", c.err, err, c.wantRequeue)
		}
		sb := get(t, cl, "a", &v1alpha1.Sandbox{})
		got := sb.Status.Reason
		if cond := meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionScheduled); c.phase == v1alpha1.PhasePending && cond != nil {
			got = cond.Reason
		}
		if sb.Status.Phase != c.phase || got != c.reason {
			t.Errorf("%v: status %+v, want %s with %s", c.err, sb.Status, c.phase, c.reason)
		}
	}
}

// TestForegroundDeleteWaitsForTheNode: a placed sandbox whose Pod went
// first (kubectl delete --cascade=foreground) keeps its finalizer until
// its node's agent has deleted the VM.
func TestForegroundDeleteWaitsForTheNode(t *testing.T) {
	sb := newSandbox("a")
	sb.Finalizers = []string{v1alpha1.Finalizer}
	sb.Status.Phase, sb.Status.Node = v1alpha1.PhaseRunning, "node-a"
	r, c := newReconciler(t, sb)
	if err := c.Delete(context.Background(), get(t, c, "a", &v1alpha1.Sandbox{})); err != nil {
		t.Fatal(err)
	}
	reconcile(t, r, "a")
	if got := get(t, c, "a", &v1alpha1.Sandbox{}); len(got.Finalizers) != 1 {
		t.Errorf("the controller let go of a sandbox placed on node-a: finalizers %v", got.Finalizers)
	}
}

// TestScheduledEventWhenTheNodeWroteFirst: the node's agent may record
// the node before the controller sees the binding; the Scheduled event
// and condition still come.
func TestScheduledEventWhenTheNodeWroteFirst(t *testing.T) {
	sb := newSandbox("a")
	sb.Finalizers = []string{v1alpha1.Finalizer}
	sb.Status = v1alpha1.SandboxStatus{Phase: v1alpha1.PhaseStarting, Node: "node-b"}
	r, c := newReconciler(t, sb)
	events := record.NewFakeRecorder(10)
	r.Events = events
	pod := LauncherPod(sb, "pause")
	pod.Spec.NodeName = "node-b"
	if err := c.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	reconcile(t, r, "a")
	got := get(t, c, "a", &v1alpha1.Sandbox{})
	if !meta.IsStatusConditionTrue(got.Status.Conditions, v1alpha1.ConditionScheduled) || got.Status.Phase != v1alpha1.PhaseStarting {
		t.Errorf("status %+v, want Scheduled=True and the agent's phase kept", got.Status)
	}
	if len(events.Events) != 1 || <-events.Events != "Normal Scheduled placed on node-b" {
		t.Errorf("want one Scheduled event")
	}
}
