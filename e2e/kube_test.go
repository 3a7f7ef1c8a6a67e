package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
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
	"sigs.k8s.io/controller-runtime/pkg/client"

	"banger/e2e/kubeenv"
	"banger/internal/kube/manager"
	"banger/internal/kube/node"
	"banger/internal/kube/v1alpha1"
)

// kubeCluster is the test's cluster: a real etcd, kube-apiserver and
// kube-scheduler in a namespace of their own, banger-controller, and two
// nodes, each a bangerd (in its own namespace) with a banger-node.
type kubeCluster struct {
	t      *testing.T
	netns  string
	plane  *kubeenv.Env
	c      client.Client
	nodes  map[string]*env
	agents map[string]*proc
	dir    string
}

// newKubeCluster starts the control plane, the controller and two nodes:
// node-a (the cached state, room for 1 VM) and node-b (a state of its own,
// room for 2).
func newKubeCluster(t *testing.T) *kubeCluster {
	t.Helper()
	if testing.Short() {
		t.Skip("the Kubernetes test builds etcd, kube-apiserver and kube-scheduler and boots VMs; not in -short")
	}
	ctx := context.Background()
	k := &kubeCluster{t: t, nodes: map[string]*env{}, agents: map[string]*proc{}, dir: t.TempDir()}
	k.nodes["node-a"] = newEnv(t, "kubea")
	k.nodes["node-b"] = newEnvAt(t, "kubeb", filepath.Join(cacheDir(), "state-kube-b"))
	for _, e := range k.nodes {
		t.Cleanup(e.removeLeftoverVMs) // before its daemon stops
	}
	bins, err := kubeenv.Binaries(ctx, cacheDir(), filepath.Join(repoRoot(t), "e2e", "kubecp"), testLog{t})
	if err != nil {
		t.Fatalf("build the control plane: %v", err)
	}
	k.netns = fmt.Sprintf("bge2e-kcp-%d", os.Getpid())
	for _, args := range [][]string{{"netns", "add", k.netns}, {"-n", k.netns, "link", "set", "lo", "up"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", k.netns).Run() })
	k.plane, err = kubeenv.Start(ctx, bins, filepath.Join(k.dir, "plane"), k.netns)
	if err != nil {
		t.Fatalf("start the control plane: %v", err)
	}
	t.Cleanup(func() { _ = k.plane.Stop() })
	k.setUp(ctx)
	return k
}

// setUp installs the CRD, registers the nodes and starts banger's
// components.
func (k *kubeCluster) setUp(ctx context.Context) {
	t := k.t
	deploy := filepath.Join(repoRoot(t), "deploy", "kubernetes")
	if err := k.plane.ApplyCRD(ctx, filepath.Join(deploy, "crd.yaml")); err != nil {
		t.Fatalf("install the CRD: %v", err)
	}
	// banger's components act as their service accounts, with the rights
	// deploy/kubernetes/rbac.yaml gives them and no more.
	for _, f := range []string{"namespace.yaml", "rbac.yaml"} {
		if err := k.plane.Apply(ctx, filepath.Join(deploy, f)); err != nil {
			t.Fatal(err)
		}
	}
	for _, sa := range []string{"banger-controller", "banger-node"} {
		if err := k.plane.KubeconfigAs(ctx, "banger-system", sa, filepath.Join(k.dir, sa+".kubeconfig")); err != nil {
			t.Fatal(err)
		}
	}
	if err := k.plane.EnsureNamespace(ctx, "sbx"); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"node-a", "node-b"} {
		if err := k.plane.RegisterNode(ctx, n, corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("16Gi")}); err != nil {
			t.Fatalf("register %s: %v", n, err)
		}
	}
	scheme, err := manager.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	if k.c, err = client.New(k.plane.RESTConfig(), client.Options{Scheme: scheme}); err != nil {
		t.Fatal(err)
	}
	bin := k.nodes["node-a"].bin
	startProc(t, k.netns, filepath.Join(k.dir, "controller.log"), filepath.Join(bin, "banger-controller"),
		"--kubeconfig", filepath.Join(k.dir, "banger-controller.kubeconfig"), "--health-addr=0")
	k.startAgent("node-a", 1)
	k.startAgent("node-b", 2)
	for n, want := range map[string]int64{"node-a": 1, "node-b": 2} {
		k.waitFor(time.Minute, n+" advertises "+fmt.Sprint(want)+" banger.dev/vm", func() (bool, string) {
			var nd corev1.Node
			if err := k.c.Get(ctx, client.ObjectKey{Name: n}, &nd); err != nil {
				return false, err.Error()
			}
			q := nd.Status.Allocatable[v1alpha1.ResourceVM]
			return q.Value() == want, fmt.Sprintf("allocatable %v", nd.Status.Allocatable)
		})
	}
}

// startAgent runs banger-node for node n over its daemon.
func (k *kubeCluster) startAgent(n string, capacity int) {
	e := k.nodes[n]
	k.agents[n] = startProc(k.t, k.netns, filepath.Join(k.dir, n+"-agent.log"), filepath.Join(e.bin, "banger-node"),
		"--kubeconfig", filepath.Join(k.dir, "banger-node.kubeconfig"), "--node-name", n, "--capacity", fmt.Sprint(capacity),
		"--socket", filepath.Join(e.runtime, "run", "bangerd.sock"), "--health-addr=0")
}

// waitFor is the package's waitFor, with the cluster's logs on failure.
func (k *kubeCluster) waitFor(timeout time.Duration, what string, check func() (bool, string)) {
	k.t.Helper()
	waitFor(k.t, timeout, what, func() (bool, string) {
		done, seen := check()
		if done {
			return true, ""
		}
		return false, seen + "\n" + k.logs()
	})
}

func (k *kubeCluster) logs() string {
	var b strings.Builder
	for _, name := range []string{"controller.log", "node-a-agent.log", "node-b-agent.log"} {
		log, _ := os.ReadFile(filepath.Join(k.dir, name))
		fmt.Fprintf(&b, "--- %s:\n%s\n", name, lastLines(string(log), 25))
	}
	return b.String()
}

// sandbox is a Sandbox of the test's shape (the cached template's: warm
// on node-a) running command.
func sandbox(name string, command ...string) *v1alpha1.Sandbox {
	return &v1alpha1.Sandbox{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "sbx"},
		Spec:       v1alpha1.SandboxSpec{VCPUs: 1, Memory: ptrTo(resource.MustParse("768Mi")), Command: command},
	}
}

func (k *kubeCluster) get(name string) *v1alpha1.Sandbox {
	k.t.Helper()
	var sb v1alpha1.Sandbox
	if err := k.c.Get(context.Background(), client.ObjectKey{Namespace: "sbx", Name: name}, &sb); err != nil {
		k.t.Fatalf("get sandbox %s: %v", name, err)
	}
	return &sb
}

// waitPhase waits until sandbox name is in one of phases.
func (k *kubeCluster) waitPhase(name string, timeout time.Duration, phases ...v1alpha1.Phase) *v1alpha1.Sandbox {
	k.t.Helper()
	var sb *v1alpha1.Sandbox
	k.waitFor(timeout, "sandbox "+name+" "+fmt.Sprint(phases), func() (bool, string) {
		sb = k.get(name)
		for _, p := range phases {
			if sb.Status.Phase == p {
				return true, ""
			}
		}
		return false, fmt.Sprintf("status %+v", sb.Status)
	})
	return sb
}

// sandboxVMs lists node n's sandbox VMs.
func (k *kubeCluster) sandboxVMs(n string) []string {
	var names []string
	for _, v := range k.nodes[n].list() {
		if strings.HasPrefix(v.Name, node.VMPrefix) {
			names = append(names, v.Name)
		}
	}
	return names
}

// workspaceArchive is a tar.gz holding hello.txt.
func workspaceArchive(t *testing.T, body string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(body)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func ptrTo[T any](v T) *T { return &v }
