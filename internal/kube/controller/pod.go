package controller

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"banger/internal/kube/v1alpha1"
)

// Requests is what sb's launcher Pod requests (and limits, so that it is
// Guaranteed): its vCPUs, its memory and one banger.dev/vm.
func Requests(sb *v1alpha1.Sandbox) corev1.ResourceList {
	cpus, mem := sb.Spec.Shape()
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(cpus, resource.DecimalSI),
		corev1.ResourceMemory: mem,
		v1alpha1.ResourceVM:   *resource.NewQuantity(1, resource.DecimalSI),
	}
}

// LauncherPod is sb's launcher Pod, running image (which only holds the
// place). The Sandbox's placement fields pass through as they are.
func LauncherPod(sb *v1alpha1.Sandbox, image string) *corev1.Pod {
	res := Requests(sb)
	no, yes := false, true
	grace := int64(1)
	name := sb.Name
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-.")
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      v1alpha1.LauncherName(sb.Name),
			Namespace: sb.Namespace,
			Labels: map[string]string{
				v1alpha1.LabelSandbox:     string(sb.UID),
				v1alpha1.LabelSandboxName: name,
			},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:      "vm",
				Image:     image,
				Resources: corev1.ResourceRequirements{Requests: res, Limits: res.DeepCopy()},
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: &no,
					ReadOnlyRootFilesystem:   &yes,
					RunAsNonRoot:             &yes,
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
				},
			}},
			SecurityContext: &corev1.PodSecurityContext{RunAsUser: ptr(int64(65535)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			AutomountServiceAccountToken:  &no,
			EnableServiceLinks:            &no,
			TerminationGracePeriodSeconds: &grace,
			NodeSelector:                  sb.Spec.NodeSelector,
			Tolerations:                   sb.Spec.Tolerations,
			PriorityClassName:             sb.Spec.PriorityClassName,
		},
	}
}

func ptr[T any](v T) *T { return &v }
