package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group and Version of the API.
const (
	Group   = "banger.dev"
	Version = "v1alpha1"
)

// GroupVersion is banger.dev/v1alpha1.
var GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

// Names shared by the controller, the node agent and the CLI.
const (
	// ResourceVM is the extended resource a node advertises (how many
	// sandboxes it may run) and every launcher Pod requests one of.
	ResourceVM corev1.ResourceName = "banger.dev/vm"
	// Finalizer keeps a deleted Sandbox until its VM is gone.
	Finalizer = "banger.dev/vm"
	// LabelSandbox is on every launcher Pod: its Sandbox's UID.
	LabelSandbox = "banger.dev/sandbox-uid"
	// LabelSandboxName is on every launcher Pod: its Sandbox's name (for
	// people; names longer than a label value allows are cut).
	LabelSandboxName = "banger.dev/sandbox"
	// LauncherSuffix ends the name of a Sandbox's launcher Pod.
	LauncherSuffix = "-vm"
)

// AddToScheme adds the API's types to s.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Sandbox{}, &SandboxList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// LauncherName is the name of sb's launcher Pod.
func LauncherName(sandboxName string) string { return sandboxName + LauncherSuffix }
