// Package v1alpha1 is the banger.dev/v1alpha1 API group: the Sandbox, a
// banger VM asked of a Kubernetes cluster. banger-controller places it
// through a launcher Pod that kube-scheduler binds, and the node agent
// (banger-node) on that Pod's node runs it; see docs/kubernetes.md.
package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Sandbox is one VM: what it runs (Spec) and how it went (Status).
type Sandbox struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   SandboxSpec   `json:"spec"`
	Status SandboxStatus `json:"status,omitempty"`
}

// SandboxList is a list of Sandboxes.
type SandboxList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Sandbox `json:"items"`
}

// SandboxSpec is what the sandbox is. Only Command and Workspace say what
// runs; the rest is the VM's shape and where it may go.
type SandboxSpec struct {
	// Image is a banger image on the node ("debian-bookworm"); empty: the
	// node daemon's default.
	Image string `json:"image,omitempty"`
	// VCPUs is the VM's vCPU count and the launcher Pod's CPU request.
	VCPUs int32 `json:"vcpus,omitempty"`
	// Memory is the VM's memory and the launcher Pod's memory request;
	// nil: 1Gi (the CRD's default).
	Memory *resource.Quantity `json:"memory,omitempty"`
	// Disk is the size of the VM's work disk; empty: the node's default.
	Disk *resource.Quantity `json:"disk,omitempty"`
	// NAT gives the VM a route out through its node; nil: the node's
	// default.
	NAT *bool `json:"nat,omitempty"`
	// TTL bounds the sandbox's life from its start: a command still
	// running then is stopped (phase Failed, reason DeadlineExceeded), a
	// sandbox without one ends (phase Succeeded, reason Expired).
	TTL *metav1.Duration `json:"ttl,omitempty"`
	// Command runs once in the VM, in the workspace when there is one.
	// The sandbox ends when it exits, with its exit code. Without one the
	// VM runs until the Sandbox is deleted or its TTL ends.
	Command []string `json:"command,omitempty"`
	// Workspace is copied into the VM, at /root/workspace, before Command.
	Workspace *WorkspaceSource `json:"workspace,omitempty"`

	// Placement, passed to the launcher Pod as they are.
	NodeSelector      map[string]string   `json:"nodeSelector,omitempty"`
	Tolerations       []corev1.Toleration `json:"tolerations,omitempty"`
	PriorityClassName string              `json:"priorityClassName,omitempty"`
}

// WorkspaceSource is where a workspace comes from: exactly one of Git,
// ConfigMap or Secret.
type WorkspaceSource struct {
	Git       *GitSource     `json:"git,omitempty"`
	ConfigMap *TarballSource `json:"configMap,omitempty"`
	Secret    *TarballSource `json:"secret,omitempty"`
}

// GitSource is a repository the node clones (https only) at Ref (a branch
// or tag; empty: the remote's default branch).
type GitSource struct {
	URL string `json:"url"`
	Ref string `json:"ref,omitempty"`
}

// TarballSource is a tar archive (optionally gzip-compressed) held in key
// Key of the ConfigMap or Secret Name, in the Sandbox's namespace.
type TarballSource struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// Phase is where a sandbox is in its life.
type Phase string

// The phases, in order. Succeeded and Failed are final.
const (
	PhasePending   Phase = "Pending"   // waiting for a node
	PhaseScheduled Phase = "Scheduled" // its launcher Pod is bound to a node
	PhaseStarting  Phase = "Starting"  // the node agent is creating the VM
	PhaseRunning   Phase = "Running"   // the VM is up (and its command running)
	PhaseSucceeded Phase = "Succeeded" // the command exited 0, or the TTL ended a sandbox without one
	PhaseFailed    Phase = "Failed"    // the command exited non-zero, or the sandbox could not run
)

// Final reports whether p is an end state.
func (p Phase) Final() bool { return p == PhaseSucceeded || p == PhaseFailed }

// SandboxStatus is what happened. The controller writes Phase up to
// Scheduled, Node and the Scheduled condition; the node agent the rest.
type SandboxStatus struct {
	Phase Phase `json:"phase,omitempty"`
	// Node is the node the launcher Pod was bound to.
	Node string `json:"node,omitempty"`
	// VM is the VM's name in its node's daemon.
	VM string `json:"vm,omitempty"`
	IP string `json:"ip,omitempty"`
	// StartTime is when the VM was up; EndTime when the sandbox ended.
	StartTime *metav1.Time `json:"startTime,omitempty"`
	EndTime   *metav1.Time `json:"endTime,omitempty"`
	// ExitCode is the command's exit code, once it has exited.
	ExitCode *int32 `json:"exitCode,omitempty"`
	// Output is the last OutputTail bytes of the command's output
	// (stdout and stderr together).
	Output string `json:"output,omitempty"`
	// Reason and Message explain a final phase ("Completed",
	// "DeadlineExceeded", "Expired", "VMFailed", "VMLost").
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Conditions: Scheduled, Ready (the VM is up), Completed.
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// The condition types of SandboxStatus.Conditions.
const (
	ConditionScheduled = "Scheduled"
	ConditionReady     = "Ready"
	ConditionCompleted = "Completed"
)

// OutputTail is how many bytes of a command's output the status keeps.
const OutputTail = 4096

// MinMemory is the least memory a sandbox's VM gets.
var MinMemory = resource.MustParse("128Mi")

// Shape is the VM's vCPUs and memory, with the defaults the CRD gives
// (1 vCPU, 1Gi) for a spec made without them: what the launcher Pod
// requests and the node's VM gets.
func (s *SandboxSpec) Shape() (vcpus int64, memory resource.Quantity) {
	vcpus, memory = int64(s.VCPUs), resource.MustParse("1Gi")
	if vcpus < 1 {
		vcpus = 1
	}
	if s.Memory != nil && !s.Memory.IsZero() {
		memory = s.Memory.DeepCopy()
	}
	return vcpus, memory
}
