package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"banger/internal/api"
	"banger/internal/kube/controller"
	"banger/internal/kube/manager"
	"banger/internal/kube/v1alpha1"
)

// fakeDaemon is a bangerd holding VMs in a map.
type fakeDaemon struct {
	mu      sync.Mutex
	vms     map[string]api.VM
	created []api.CreateVM
	deleted []string
}

func (d *fakeDaemon) ListVMs(context.Context) ([]api.VM, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []api.VM
	for _, v := range d.vms {
		out = append(out, v)
	}
	return out, nil
}

func (d *fakeDaemon) GetVM(_ context.Context, name string) (api.VM, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.vms[name]; ok {
		return v, nil
	}
	return api.VM{}, &api.Error{Kind: api.KindNotFound, Message: "no VM called " + name}
}

func (d *fakeDaemon) CreateVM(_ context.Context, req api.CreateVM, _ func(api.Event)) (api.VM, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.vms[req.Name]; ok {
		return api.VM{}, &api.Error{Kind: api.KindAlreadyExists, Message: "exists"}
	}
	d.created = append(d.created, req)
	v := api.VM{Name: req.Name, State: "running", IP: "172.16.0.9", CreatedAt: time.Now()}
	d.vms[req.Name] = v
	return v, nil
}

func (d *fakeDaemon) DeleteVM(_ context.Context, name string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.vms[name]; !ok {
		return &api.Error{Kind: api.KindNotFound, Message: "no VM called " + name}
	}
	delete(d.vms, name)
	d.deleted = append(d.deleted, name)
	return nil
}

func (d *fakeDaemon) SSHTarget(context.Context, string) (api.SSHTarget, error) {
	return api.SSHTarget{}, errors.New("no guests here")
}

func (d *fakeDaemon) Connect(context.Context, string) (io.ReadWriteCloser, error) {
	return nil, errors.New("no guests here")
}

func sandbox(name string) *v1alpha1.Sandbox {
	return &v1alpha1.Sandbox{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name + "-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"),
			Finalizers: []string{v1alpha1.Finalizer}},
		Spec: v1alpha1.SandboxSpec{VCPUs: 1, Memory: ptrTo(resource.MustParse("768Mi"))},
	}
}

// placed makes sb's launcher Pod, bound to node.
func placed(sb *v1alpha1.Sandbox, node string) *corev1.Pod {
	pod := controller.LauncherPod(sb, "pause")
	pod.Spec.NodeName = node
	return pod
}

func newAgent(t *testing.T, objs ...client.Object) (*Agent, client.Client, *fakeDaemon) {
	t.Helper()
	scheme, err := manager.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.Sandbox{}, &corev1.Node{}).Build()
	d := &fakeDaemon{vms: map[string]api.VM{}}
	a := &Agent{Client: c, Daemon: d, NodeName: "node-a", Capacity: 2, Log: slog.New(slog.DiscardHandler)}
	a.defaults()
	t.Cleanup(a.runs.close)
	return a, c, d
}

func reconcile(t *testing.T, a *Agent, name string) ctrl.Result {
	t.Helper()
	res, err := a.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: name}})
	if err != nil {
		t.Fatalf("reconcile %s: %v", name, err)
	}
	return res
}

func getSandbox(t *testing.T, c client.Client, name string) *v1alpha1.Sandbox {
	t.Helper()
	var sb v1alpha1.Sandbox
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: name}, &sb); err != nil {
		t.Fatal(err)
	}
	return &sb
}

func TestAgentRunsSandboxesPlacedOnItsNode(t *testing.T) {
	mine, theirs := sandbox("mine"), sandbox("theirs")
	a, c, d := newAgent(t, mine, theirs, placed(mine, "node-a"), placed(theirs, "node-b"))
	reconcile(t, a, "mine")
	reconcile(t, a, "theirs")
	if len(d.created) != 1 || d.created[0].Name != VMName(mine.UID) || d.created[0].MemoryMiB != 768 || d.created[0].VCPUs != 1 {
		t.Fatalf("VMs created: %+v, want one for %q of 1 vCPU and 768 MiB", d.created, VMName(mine.UID))
	}
	st := getSandbox(t, c, "mine").Status
	if st.Phase != v1alpha1.PhaseRunning || st.Node != "node-a" || st.IP != "172.16.0.9" || st.StartTime == nil || st.VM != VMName(mine.UID) {
		t.Errorf("status %+v, want Running on node-a with the VM's address", st)
	}
	if getSandbox(t, c, "theirs").Status.Phase != "" {
		t.Errorf("the agent of node-a touched a sandbox placed on node-b")
	}
	// A second pass (as after a restart) adopts the VM instead of making
	// another.
	reconcile(t, a, "mine")
	if len(d.created) != 1 || len(d.vms) != 1 {
		t.Errorf("after a second reconcile: %d creates, %d VMs; want 1 and 1", len(d.created), len(d.vms))
	}
}

func TestAgentReleasesADeletedSandbox(t *testing.T) {
	sb := sandbox("a")
	a, c, d := newAgent(t, sb, placed(sb, "node-a"))
	reconcile(t, a, "a")
	if err := c.Delete(context.Background(), getSandbox(t, c, "a")); err != nil {
		t.Fatal(err)
	}
	reconcile(t, a, "a")
	if len(d.vms) != 0 || len(d.deleted) != 1 {
		t.Errorf("VMs left %v, deleted %v; want the sandbox's VM deleted", d.vms, d.deleted)
	}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "a"}, &v1alpha1.Sandbox{}); !apierrors.IsNotFound(err) {
		t.Errorf("sandbox after release: %v, want it gone (finalizer removed)", err)
	}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "a-vm"}, &corev1.Pod{}); !apierrors.IsNotFound(err) {
		t.Errorf("launcher pod after release: %v, want it gone", err)
	}
}

func TestAgentEndsLostAndExpiredSandboxes(t *testing.T) {
	lost, old := sandbox("lost"), sandbox("old")
	lost.Status = v1alpha1.SandboxStatus{Phase: v1alpha1.PhaseRunning, Node: "node-a"}
	started := metav1.NewTime(time.Now().Add(-time.Hour))
	old.Status = v1alpha1.SandboxStatus{Phase: v1alpha1.PhaseRunning, Node: "node-a", StartTime: &started}
	old.Spec.TTL = &metav1.Duration{Duration: time.Minute}
	a, c, d := newAgent(t, lost, old, placed(lost, "node-a"), placed(old, "node-a"))
	d.vms[VMName(old.UID)] = api.VM{Name: VMName(old.UID), State: "running"}
	reconcile(t, a, "lost")
	if st := getSandbox(t, c, "lost").Status; st.Phase != v1alpha1.PhaseFailed || st.Reason != "VMLost" || st.EndTime == nil {
		t.Errorf("a running sandbox whose VM vanished: %+v, want Failed/VMLost", st)
	}
	reconcile(t, a, "old")
	if st := getSandbox(t, c, "old").Status; st.Phase != v1alpha1.PhaseSucceeded || st.Reason != "Expired" {
		t.Errorf("a sandbox past its ttl: %+v, want Succeeded/Expired", st)
	}
	reconcile(t, a, "old") // final: its VM goes
	if _, ok := d.vms[VMName(old.UID)]; ok {
		t.Errorf("the VM of an expired sandbox is still there")
	}
}

func TestCollectDeletesOnlyOrphanedSandboxVMs(t *testing.T) {
	sb := sandbox("a")
	a, _, d := newAgent(t, sb)
	for _, n := range []string{VMName(sb.UID), VMPrefix + "0123456789abcdef0123", "dev-box"} {
		d.vms[n] = api.VM{Name: n, State: "running"}
	}
	if err := a.collect(context.Background()); err != nil {
		t.Fatal(err)
	}
	var left []string
	for n := range d.vms {
		left = append(left, n)
	}
	sort.Strings(left)
	if want := []string{"dev-box", VMName(sb.UID)}; len(left) != 2 || left[0] != want[0] || left[1] != want[1] {
		t.Errorf("VMs after collect %v, want %v (the orphan deleted, the user's VM kept)", left, want)
	}
}

func TestAdvertiseSetsTheNodesCapacity(t *testing.T) {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}
	a, c, _ := newAgent(t, n)
	if err := a.advertise(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(context.Background(), client.ObjectKey{Name: "node-a"}, n); err != nil {
		t.Fatal(err)
	}
	capQ, alloc := n.Status.Capacity[v1alpha1.ResourceVM], n.Status.Allocatable[v1alpha1.ResourceVM]
	if capQ.Value() != 2 || alloc.Value() != 2 {
		t.Errorf("capacity %s allocatable %s, want 2 and 2", capQ.String(), alloc.String())
	}
}

func TestCreateRequestRefusesTinyMemory(t *testing.T) {
	sb := sandbox("a")
	sb.Spec.Memory = ptrTo(resource.MustParse("64Mi"))
	if _, err := createRequest(sb, "x"); err == nil {
		t.Fatal("a 64Mi sandbox was accepted")
	}
	sb.Spec.Memory = ptrTo(resource.MustParse("1Gi"))
	sb.Spec.TTL = &metav1.Duration{Duration: 10 * time.Minute}
	req, err := createRequest(sb, "x")
	if err != nil || req.MemoryMiB != 1024 || req.TTL != "21m0s" || req.AutoStop != "off" {
		t.Errorf("request %+v (%v), want 1024 MiB, the daemon's TTL the start grace and a minute past the sandbox's, no auto-stop", req, err)
	}
}

func ptrTo[T any](v T) *T { return &v }

// TestWatchGivesUp: a guest that cannot be reached ends the sandbox after
// maxFailures tries, with the reason in its status, instead of leaving it
// Running forever.
func TestWatchGivesUp(t *testing.T) {
	sb := sandbox("a")
	sb.Spec.Command = []string{"true"}
	sb.Status = v1alpha1.SandboxStatus{Phase: v1alpha1.PhaseRunning, Node: "node-a"}
	a, c, _ := newAgent(t, sb)
	a.retryPause = time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a.watch(ctx, *getSandbox(t, c, "a"), "vm")
	st := getSandbox(t, c, "a").Status
	if st.Phase != v1alpha1.PhaseFailed || st.Reason != "GuestUnreachable" || !strings.Contains(st.Message, "no guests here") {
		t.Errorf("status %+v, want Failed/GuestUnreachable with the error", st)
	}
}

// TestWorkspaceNeedsItsLabel: a ConfigMap without banger.dev/workspace
// is refused at once (no retries), one with it is copied.
func TestWorkspaceNeedsItsLabel(t *testing.T) {
	sb := sandbox("a")
	sb.Spec.Workspace = &v1alpha1.WorkspaceSource{ConfigMap: &v1alpha1.TarballSource{Name: "ws", Key: "t"}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ws", Namespace: "ns"}, BinaryData: map[string][]byte{"t": []byte("tar")}}
	a, c, _ := newAgent(t, sb, cm)
	_, err := a.fetchWorkspace(context.Background(), sb)
	if err == nil || !isPermanent(err) || !strings.Contains(err.Error(), LabelWorkspace) {
		t.Fatalf("unlabelled configmap: %v, want a permanent refusal naming %s", err, LabelWorkspace)
	}
	cm.Labels = map[string]string{LabelWorkspace: "true"}
	if err := c.Update(context.Background(), cm); err != nil {
		t.Fatal(err)
	}
	ws, err := a.fetchWorkspace(context.Background(), sb)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(ws.r); string(b) != "tar" {
		t.Errorf("workspace bytes %q", b)
	}
	sb.Spec.Workspace.ConfigMap.Key = "missing"
	if _, err := a.fetchWorkspace(context.Background(), sb); err == nil || !isPermanent(err) {
		t.Errorf("a missing key: %v, want a permanent error", err)
	}
}
