package kubeenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"banger/internal/poll"
)

// slot is the extended resource the test's nodes offer and its pods ask for.
const slot corev1.ResourceName = "example.com/slot"

// TestSchedulerPlacesByCapacity starts the control plane in a network
// namespace of its own, registers two nodes with room for 1 and 2 pods,
// and checks that kube-scheduler places 3 of 4 pods within that room and
// leaves the 4th Pending as Unschedulable.
//
// Host needs: root (a network namespace), ip, and go for the first build
// (about 4 minutes on 2 cores; run with -timeout 30m). The binaries are
// cached under BANGER_E2E_CACHE (default /var/cache/banger-e2e).
func TestSchedulerPlacesByCapacity(t *testing.T) {
	env := startEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	for _, n := range []struct {
		name  string
		slots string
	}{{"node-a", "1"}, {"node-b", "2"}} {
		if err := env.RegisterNode(ctx, n.name, corev1.ResourceList{slot: resource.MustParse(n.slots)}); err != nil {
			t.Fatal(err)
		}
	}
	const ns = "kubeenv-test"
	if err := env.EnsureNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(env.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, slotPod(fmt.Sprintf("p%d", i)), metav1.CreateOptions{}); err != nil {
			t.Fatalf("create pod: %v", err)
		}
	}
	placed := waitPlacement(ctx, t, cs, ns)
	if placed["node-a"] > 1 || placed["node-b"] > 2 || placed[""] != 1 {
		t.Fatalf("placement %v: want at most 1 on node-a, 2 on node-b and 1 unplaced", placed)
	}
	t.Logf("placement: %v", placed)
}

// TestApplyCRD installs a CRD twice (create, then update) and creates one
// of its objects.
func TestApplyCRD(t *testing.T) {
	env := startEnv(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	for range 2 {
		if err := env.ApplyCRD(ctx, "testdata/widget-crd.yaml"); err != nil {
			t.Fatal(err)
		}
	}
	if err := env.EnsureNamespace(ctx, "widgets"); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(env.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	w := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1",
		"kind":       "Widget",
		"metadata":   map[string]any{"name": "w1"},
		"spec":       map[string]any{"size": int64(3)},
	}}
	gvr := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	if _, err := dyn.Resource(gvr).Namespace("widgets").Create(ctx, w, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create widget: %v", err)
	}
}

// startEnv builds (or reuses) the binaries and starts the control plane in
// a new network namespace; both are gone when the test ends.
func startEnv(t *testing.T) *Env {
	if testing.Short() {
		t.Skip("-short: builds and starts etcd, kube-apiserver and kube-scheduler")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	for _, tool := range []string{"go", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 25*time.Minute)
	defer cancel()
	src, err := filepath.Abs("../kubecp")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	bin, err := Binaries(ctx, cacheDir(), src, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("binaries in %s (%s)", bin, time.Since(start).Round(time.Second))
	ns := newNetns(t)
	start = time.Now()
	env, err := Start(ctx, bin, t.TempDir(), ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("control plane ready at %s in namespace %s after %s", env.Server, ns, time.Since(start).Round(10*time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(env.Logs())
		}
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	})
	return env
}

// newNetns creates a network namespace with lo up, deleted when the test ends.
func newNetns(t *testing.T) string {
	name := fmt.Sprintf("kubeenv-%d", os.Getpid())
	_ = exec.Command("ip", "netns", "delete", name).Run() // left by a crash
	for _, argv := range [][]string{{"ip", "netns", "add", name}, {"ip", "-n", name, "link", "set", "lo", "up"}} {
		if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
		}
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v\n%s", name, err, out)
		}
	})
	return name
}

// slotPod is a pod that needs one slot. Nothing runs it: there is no kubelet.
func slotPod(name string) *corev1.Pod {
	one := corev1.ResourceList{slot: resource.MustParse("1")}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name:      "pause",
			Image:     "registry.k8s.io/pause:3.10",
			Resources: corev1.ResourceRequirements{Requests: one, Limits: one},
		}}},
	}
}

// waitPlacement waits until every pod in ns is either bound to a node or
// marked Unschedulable, and counts them by node ("" for unschedulable).
func waitPlacement(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns string) map[string]int {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var placed map[string]int
	var pending []corev1.Pod
	err := poll.Until(ctx, 250*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, fmt.Errorf("list pods: %w", err)
		}
		placed, pending = map[string]int{}, nil
		for _, p := range pods.Items {
			switch {
			case p.Spec.NodeName != "":
				placed[p.Spec.NodeName]++
			case unschedulable(&p):
				placed[""]++
			default:
				pending = append(pending, p)
			}
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		for _, p := range pending {
			t.Logf("pod %s undecided: %+v", p.Name, p.Status)
		}
		t.Fatalf("wait for the scheduler (so far %v): %v", placed, err)
	}
	return placed
}

// unschedulable says whether the scheduler gave up on the pod for now.
func unschedulable(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return true
		}
	}
	return false
}

func cacheDir() string {
	if d := os.Getenv("BANGER_E2E_CACHE"); d != "" {
		return d
	}
	return "/var/cache/banger-e2e"
}

// testLog writes build output to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(b []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
