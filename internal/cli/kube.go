package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"banger/internal/kube/manager"
	"banger/internal/kube/v1alpha1"
	"banger/internal/poll"
)

// kubeRunFlags are the flags of `banger kube run`.
type kubeRunFlags struct {
	kubeconfig, namespace, name string
	image, memory, disk, ttl    string
	vcpus                       int32
	nat                         bool
	gitURL, gitRef, configMap   string
	keep                        bool
	timeout                     time.Duration
}

func (a *app) kubeCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "kube", Short: "Run sandboxes on a Kubernetes cluster (see docs/kubernetes.md)"}
	cmd.AddCommand(a.kubeRunCmd())
	return cmd
}

func (a *app) kubeRunCmd() *cobra.Command {
	var f kubeRunFlags
	cmd := &cobra.Command{
		Use:   "run [flags] [-- command args...]",
		Short: "Create a Sandbox, wait for it and exit with its command's exit code",
		Long: "Creates a Sandbox (banger.dev/v1alpha1) in the cluster of your kubeconfig, waits while\n" +
			"kube-scheduler places it and the node runs it, prints the tail of its output and exits\n" +
			"with its command's exit code. The Sandbox is deleted afterwards unless --keep.\n" +
			"Without a command the sandbox keeps running: its name, node and address are printed.",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.kubeRun(cmd.Context(), f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	fl.StringVarP(&f.namespace, "namespace", "n", "", "namespace (default: the kubeconfig context's)")
	fl.StringVar(&f.name, "name", "", "the Sandbox's name (default: run-<random>)")
	fl.StringVar(&f.image, "image", "", "banger image on the node (default: the node's default)")
	fl.Int32Var(&f.vcpus, "vcpus", 1, "vCPUs")
	fl.StringVar(&f.memory, "memory", "1Gi", "memory, e.g. 768Mi or 2Gi")
	fl.StringVar(&f.disk, "disk", "", "work disk size, e.g. 8Gi (default: the node's)")
	fl.StringVar(&f.ttl, "ttl", "", "end the sandbox after this long, e.g. 30m")
	fl.BoolVar(&f.nat, "nat", false, "give the VM a route out through its node")
	fl.StringVar(&f.gitURL, "git", "", "workspace: an https git repository to clone into /root/workspace")
	fl.StringVar(&f.gitRef, "ref", "", "workspace: the branch or tag of --git")
	fl.StringVar(&f.configMap, "workspace-configmap", "", "workspace: NAME/KEY of a ConfigMap holding a tar archive")
	fl.BoolVar(&f.keep, "keep", false, "keep the Sandbox when the command ends")
	fl.DurationVar(&f.timeout, "timeout", time.Hour, "give up waiting after this long (the Sandbox is deleted unless --keep)")
	return cmd
}

// sandbox is the Sandbox f and command describe.
func (f kubeRunFlags) sandbox(ns string, command []string) (*v1alpha1.Sandbox, error) {
	sb := &v1alpha1.Sandbox{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Sandbox"},
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: f.name},
		Spec:       v1alpha1.SandboxSpec{Image: f.image, VCPUs: f.vcpus, Command: command},
	}
	if f.name == "" {
		sb.GenerateName = "run-"
	}
	mem, err := resource.ParseQuantity(f.memory)
	if err != nil {
		return nil, fmt.Errorf("--memory %q: %w (e.g. 768Mi, 2Gi)", f.memory, err)
	}
	sb.Spec.Memory = &mem
	if f.disk != "" {
		d, err := resource.ParseQuantity(f.disk)
		if err != nil {
			return nil, fmt.Errorf("--disk %q: %w (e.g. 8Gi)", f.disk, err)
		}
		sb.Spec.Disk = &d
	}
	if f.ttl != "" {
		d, err := time.ParseDuration(f.ttl)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("--ttl %q: give a duration such as 30m or 2h", f.ttl)
		}
		sb.Spec.TTL = &metav1.Duration{Duration: d}
	}
	if f.nat {
		sb.Spec.NAT = &f.nat
	}
	switch {
	case f.gitURL != "" && f.configMap != "":
		return nil, fmt.Errorf("give one workspace: --git or --workspace-configmap")
	case f.gitURL != "":
		sb.Spec.Workspace = &v1alpha1.WorkspaceSource{Git: &v1alpha1.GitSource{URL: f.gitURL, Ref: f.gitRef}}
	case f.configMap != "":
		name, key, ok := strings.Cut(f.configMap, "/")
		if !ok || name == "" || key == "" {
			return nil, fmt.Errorf("--workspace-configmap %q: give NAME/KEY", f.configMap)
		}
		sb.Spec.Workspace = &v1alpha1.WorkspaceSource{ConfigMap: &v1alpha1.TarballSource{Name: name, Key: key}}
	}
	return sb, nil
}

func (a *app) kubeRun(ctx context.Context, f kubeRunFlags, command []string) error {
	cfg, ns, err := manager.Load(f.kubeconfig)
	if err != nil {
		return err
	}
	if f.namespace != "" {
		ns = f.namespace
	}
	sb, err := f.sandbox(ns, command)
	if err != nil {
		return err
	}
	scheme, err := manager.Scheme()
	if err != nil {
		return err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("kubernetes client: %w", err)
	}
	if err := c.Create(ctx, sb); err != nil {
		return fmt.Errorf("create the sandbox: %w (is the CRD installed? see docs/kubernetes.md)", err)
	}
	fmt.Fprintf(a.stderr, "sandbox %s/%s created\n", sb.Namespace, sb.Name)
	sctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	wctx, cancel := context.WithTimeout(sctx, f.timeout)
	defer cancel()
	done, err := a.waitSandbox(wctx, c, sb, len(command) > 0)
	if !f.keep && (len(command) > 0 || err != nil) {
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer dcancel()
		if derr := c.Delete(dctx, sb); client.IgnoreNotFound(derr) != nil {
			fmt.Fprintf(a.stderr, "banger: delete sandbox %s: %v\n", sb.Name, derr)
		}
	}
	if err != nil {
		return err
	}
	return a.reportSandbox(done, len(command) > 0)
}

// waitSandbox follows sb until it ends (finished) or, without a command,
// until it runs, and says on stderr what changes on the way.
func (a *app) waitSandbox(ctx context.Context, c client.Client, sb *v1alpha1.Sandbox, finished bool) (*v1alpha1.Sandbox, error) {
	last := ""
	var cur v1alpha1.Sandbox
	err := poll.Until(ctx, 500*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(sb), &cur); err != nil {
			return false, fmt.Errorf("get sandbox %s: %w", sb.Name, err)
		}
		if line := sandboxLine(&cur); line != last {
			fmt.Fprintln(a.stderr, line)
			last = line
		}
		return cur.Status.Phase.Final() || (!finished && cur.Status.Phase == v1alpha1.PhaseRunning), nil
	})
	if err != nil {
		return nil, fmt.Errorf("wait for sandbox %s (last: %s): %w", sb.Name, last, err)
	}
	return &cur, nil
}

// sandboxLine is one progress line for sb.
func sandboxLine(sb *v1alpha1.Sandbox) string {
	st := sb.Status
	line := "  " + string(st.Phase)
	switch {
	case st.Phase == "" || st.Phase == v1alpha1.PhasePending:
		line = "  Pending"
		if c := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionScheduled); c != nil && c.Message != "" {
			line += ": " + c.Message
		}
	case st.Phase.Final():
		line += " (" + st.Reason + ")"
	case st.Node != "":
		line += " on " + st.Node
		if st.IP != "" {
			line += " at " + st.IP
		}
	}
	return line
}

// reportSandbox prints how sb ended (its output on stdout) and returns
// the command's exit code as an ExitError; a long-lived sandbox's name,
// node and address.
func (a *app) reportSandbox(sb *v1alpha1.Sandbox, command bool) error {
	st := sb.Status
	if !command {
		if st.Phase.Final() {
			return fmt.Errorf("sandbox %s ended: %s: %s", sb.Name, st.Reason, st.Message)
		}
		fmt.Fprintf(a.stdout, "%s\t%s\t%s\n", sb.Name, st.Node, st.IP)
		return nil
	}
	fmt.Fprint(a.stdout, st.Output)
	if st.ExitCode == nil {
		return fmt.Errorf("sandbox %s %s: %s: %s", sb.Name, strings.ToLower(string(st.Phase)), st.Reason, st.Message)
	}
	return exitStatus(int(*st.ExitCode), nil)
}
