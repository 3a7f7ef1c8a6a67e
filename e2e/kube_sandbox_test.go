package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"banger/internal/kube/node"
	"banger/internal/kube/v1alpha1"
)

// blocked is a command that records that it ran, waits until the test
// touches /root/go in its VM, then prints how often it ran and the
// workspace's hello.txt, and exits code.
func blocked(code int) []string {
	return []string{"sh", "-c", fmt.Sprintf(`echo started >>/root/runs; while [ ! -e /root/go ]; do sleep 0.5; done; `+
		`echo "runs: $(wc -l </root/runs)"; cat hello.txt 2>/dev/null; exit %d`, code)}
}

// TestKubernetesSandboxes runs Sandboxes on a real kube-apiserver and
// kube-scheduler over two bangerds: placement by the banger.dev/vm each
// node advertises, exit codes and output in the status, a node agent
// killed and restarted adopting its VMs, deletion, and `banger kube run`.
func TestKubernetesSandboxes(t *testing.T) {
	k := newKubeCluster(t)
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "ws", Namespace: "sbx", Labels: map[string]string{node.LabelWorkspace: "true"}},
		BinaryData: map[string][]byte{"src.tar.gz": workspaceArchive(t, "hello from a configmap\n")}}
	if err := k.c.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	// The CRD's own validation refuses what no VM can be.
	tiny := sandbox("s-tiny", "true")
	tiny.Spec.Memory = ptrTo(resource.MustParse("64Mi"))
	if err := k.c.Create(ctx, tiny); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "128Mi") {
		t.Errorf("a 64Mi sandbox: %v, want the CRD to refuse it", err)
	}
	codes := map[string]int{"s-one": 3, "s-two": 0, "s-three": 7}
	for name, code := range codes {
		sb := sandbox(name, blocked(code)...)
		if name == "s-one" {
			sb.Spec.Workspace = &v1alpha1.WorkspaceSource{ConfigMap: &v1alpha1.TarballSource{Name: "ws", Key: "src.tar.gz"}}
		}
		if err := k.c.Create(ctx, sb); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	placed := map[string]int{}
	vms := map[string]*v1alpha1.Sandbox{}
	for name := range codes {
		sb := k.waitPhase(name, 4*time.Minute, v1alpha1.PhaseRunning)
		placed[sb.Status.Node]++
		vms[name] = sb
	}
	t.Logf("placement: %v", placed)
	if placed["node-a"] != 1 || placed["node-b"] != 2 {
		t.Fatalf("placement %v: node-a has room for 1 VM and node-b for 2", placed)
	}
	if a, b := k.sandboxVMs("node-a"), k.sandboxVMs("node-b"); len(a) != 1 || len(b) != 2 {
		t.Fatalf("sandbox VMs: node-a %v, node-b %v; want 1 and 2", a, b)
	}
	k.checkNoRoom()
	k.restartAgent("node-b")
	if b := k.sandboxVMs("node-b"); len(b) != 2 {
		t.Fatalf("node-b's VMs after its agent restarted: %v, want the same 2", b)
	}
	for name, sb := range vms {
		k.release(name, sb)
	}
	for name, code := range codes {
		k.checkExit(name, code)
	}
	for name, sb := range vms {
		k.waitVMGone(sb.Status.Node, sb.Status.VM, name)
	}
	four := k.waitPhase("s-four", 3*time.Minute, v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed)
	if four.Status.ExitCode == nil || *four.Status.ExitCode != 0 {
		t.Errorf("s-four, placed once there was room: %+v", four.Status)
	}
	k.checkColumns()
	k.checkEvents("s-three", "LauncherCreated", "Scheduled", "CreatingVM", "VMRunning", "CommandExited")
	k.checkDelete()
	k.checkKubeRun()
}

// release lets sb's blocked command go on: it touches /root/go in its VM.
func (k *kubeCluster) release(name string, sb *v1alpha1.Sandbox) {
	e := k.nodes[sb.Status.Node]
	k.waitFor(time.Minute, "touch /root/go in "+sb.Status.VM, func() (bool, string) {
		out, code := e.banger(context.Background(), true, "vm", "ssh", sb.Status.VM, "--", "touch", "/root/go")
		return code == 0, out
	})
	k.t.Logf("released %s on %s (%s)", name, sb.Status.Node, sb.Status.VM)
}

// checkNoRoom creates a fourth sandbox while the three fill both nodes
// and checks that kube-scheduler holds it back for want of banger.dev/vm.
func (k *kubeCluster) checkNoRoom() {
	if err := k.c.Create(context.Background(), sandbox("s-four", "sh", "-c", "exit 0")); err != nil {
		k.t.Fatal(err)
	}
	k.waitFor(time.Minute, "s-four unschedulable", func() (bool, string) {
		sb := k.get("s-four")
		c := meta.FindStatusCondition(sb.Status.Conditions, v1alpha1.ConditionScheduled)
		ok := c != nil && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, string(v1alpha1.ResourceVM))
		return ok && sb.Status.Node == "", fmt.Sprintf("status %+v", sb.Status)
	})
	k.t.Logf("s-four waits: %s", meta.FindStatusCondition(k.get("s-four").Status.Conditions, v1alpha1.ConditionScheduled).Message)
}

// restartAgent kills node n's agent (SIGKILL: no goodbye) and starts
// another, then waits until the new one watches the commands running on n.
func (k *kubeCluster) restartAgent(n string) {
	k.agents[n].stop(syscall.SIGKILL)
	before, _ := os.ReadFile(k.agents[n].log)
	k.startAgent(n, 2)
	k.waitFor(2*time.Minute, "the restarted agent of "+n+" watching its 2 commands", func() (bool, string) {
		b, _ := os.ReadFile(k.agents[n].log)
		after := string(b[len(before):])
		return strings.Count(after, "watching the command") == 2, lastLines(after, 20)
	})
}

// checkExit waits for sandbox name to end and checks its exit code and
// output (the command ran once; s-one saw its workspace).
func (k *kubeCluster) checkExit(name string, code int) {
	sb := k.waitPhase(name, 3*time.Minute, v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed)
	st := sb.Status
	if st.ExitCode == nil || int(*st.ExitCode) != code {
		k.t.Errorf("%s: exit code %v, want %d (status %+v)", name, st.ExitCode, code, st)
		return
	}
	want := v1alpha1.PhaseSucceeded
	if code != 0 {
		want = v1alpha1.PhaseFailed
	}
	if st.Phase != want || st.EndTime == nil || !meta.IsStatusConditionTrue(st.Conditions, v1alpha1.ConditionCompleted) {
		k.t.Errorf("%s: status %+v, want %s with an end time and Completed", name, st, want)
	}
	if !strings.Contains(st.Output, "runs: 1\n") {
		k.t.Errorf("%s: output %q, want the command to have run exactly once", name, st.Output)
	}
	if name == "s-one" && !strings.Contains(st.Output, "hello from a configmap") {
		k.t.Errorf("s-one: output %q, want its workspace's hello.txt", st.Output)
	}
}

// waitVMGone waits until VM vm is gone from node n's daemon.
func (k *kubeCluster) waitVMGone(n, vm, why string) {
	k.waitFor(2*time.Minute, vm+" ("+why+") deleted from "+n, func() (bool, string) {
		left := k.sandboxVMs(n)
		for _, v := range left {
			if v == vm {
				return false, fmt.Sprintf("VMs on %s: %v", n, left)
			}
		}
		return true, ""
	})
}

// checkColumns reads the sandboxes as `kubectl get sandboxes` does (a
// Table from the API server) and checks its columns and one row.
func (k *kubeCluster) checkColumns() {
	t := k.t
	cfg := rest.CopyConfig(k.plane.RESTConfig())
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", strings.TrimRight(cfg.Host, "/")+"/apis/banger.dev/v1alpha1/namespaces/sbx/sandboxes", nil)
	req.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var table metav1.Table
	if err := json.NewDecoder(resp.Body).Decode(&table); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, c := range table.ColumnDefinitions {
		if c.Priority == 0 {
			cols = append(cols, c.Name)
		}
	}
	if got := strings.Join(cols, " "); got != "Name Phase Node IP Exit Age" {
		t.Errorf("kubectl get sandboxes columns %q, want Name Phase Node IP Exit Age", got)
	}
	for _, row := range table.Rows {
		if len(row.Cells) > 4 && row.Cells[0] == "s-three" {
			line := fmt.Sprint(row.Cells[:5]...)
			t.Logf("kubectl get sandboxes: %v", row.Cells)
			if row.Cells[1] != "Failed" || fmt.Sprint(row.Cells[4]) != "7" {
				t.Errorf("s-three's row %s, want Failed and exit 7", line)
			}
			return
		}
	}
	t.Errorf("no row for s-three in %+v", table.Rows)
}

// checkEvents waits until the events of sandbox name (what `kubectl
// describe sandbox` shows; they are written asynchronously) have each of
// reasons.
func (k *kubeCluster) checkEvents(name string, reasons ...string) {
	var lines []string
	k.waitFor(30*time.Second, "the events of "+name, func() (bool, string) {
		var list corev1.EventList
		if err := k.c.List(context.Background(), &list, client.InNamespace("sbx")); err != nil {
			return false, err.Error()
		}
		seen := map[string]bool{}
		lines = nil
		for _, ev := range list.Items {
			if ev.InvolvedObject.Kind == "Sandbox" && ev.InvolvedObject.Name == name {
				seen[ev.Reason] = true
				lines = append(lines, ev.Type+" "+ev.Reason+" "+ev.Source.Component+": "+ev.Message)
			}
		}
		for _, r := range reasons {
			if !seen[r] {
				return false, "no " + r + " event; events:\n" + strings.Join(lines, "\n")
			}
		}
		return true, ""
	})
	k.t.Logf("events of %s:\n%s", name, strings.Join(lines, "\n"))
}

// checkDelete deletes a running sandbox and checks that its VM, launcher
// Pod and the Sandbox itself go.
func (k *kubeCluster) checkDelete() {
	ctx := context.Background()
	if err := k.c.Create(ctx, sandbox("s-five")); err != nil {
		k.t.Fatal(err)
	}
	sb := k.waitPhase("s-five", 3*time.Minute, v1alpha1.PhaseRunning)
	if err := k.c.Delete(ctx, sb); err != nil {
		k.t.Fatal(err)
	}
	k.waitVMGone(sb.Status.Node, sb.Status.VM, "s-five deleted")
	k.waitFor(time.Minute, "s-five and its pod gone", func() (bool, string) {
		err1 := k.c.Get(ctx, client.ObjectKey{Namespace: "sbx", Name: "s-five"}, &v1alpha1.Sandbox{})
		err2 := k.c.Get(ctx, client.ObjectKey{Namespace: "sbx", Name: "s-five-vm"}, &corev1.Pod{})
		return apierrors.IsNotFound(err1) && apierrors.IsNotFound(err2), fmt.Sprintf("sandbox: %v; pod: %v", err1, err2)
	})
}

// checkKubeRun runs `banger kube run` and checks its output and exit code.
func (k *kubeCluster) checkKubeRun() {
	e := k.nodes["node-a"]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", k.netns, filepath.Join(e.bin, "banger"), "kube", "run",
		"--kubeconfig", k.plane.Kubeconfig, "-n", "sbx", "--memory", "768Mi", "--", "sh", "-c", "echo hi from kube run; exit 5")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := cmd.ProcessState.ExitCode()
	k.t.Logf("banger kube run: exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	if code != 5 || !strings.Contains(out.String(), "hi from kube run") {
		k.t.Errorf("banger kube run: exit %d (%v), stdout %q; want 5 and the command's output", code, err, out.String())
	}
	var list v1alpha1.SandboxList
	if err := k.c.List(context.Background(), &list, client.InNamespace("sbx")); err != nil {
		k.t.Fatal(err)
	}
	for _, sb := range list.Items {
		if strings.HasPrefix(sb.Name, "run-") && sb.DeletionTimestamp.IsZero() {
			k.t.Errorf("banger kube run left its sandbox %s", sb.Name)
		}
	}
}
