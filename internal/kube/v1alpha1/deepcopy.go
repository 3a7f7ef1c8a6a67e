package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// DeepCopyInto copies s into out.
func (s *Sandbox) DeepCopyInto(out *Sandbox) {
	*out = *s
	out.TypeMeta = s.TypeMeta
	s.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	s.Spec.DeepCopyInto(&out.Spec)
	s.Status.DeepCopyInto(&out.Status)
}

// DeepCopy copies s.
func (s *Sandbox) DeepCopy() *Sandbox {
	if s == nil {
		return nil
	}
	out := new(Sandbox)
	s.DeepCopyInto(out)
	return out
}

// DeepCopyObject is runtime.Object's copy.
func (s *Sandbox) DeepCopyObject() runtime.Object { return s.DeepCopy() }

// DeepCopyInto copies l into out.
func (l *SandboxList) DeepCopyInto(out *SandboxList) {
	*out = *l
	l.ListMeta.DeepCopyInto(&out.ListMeta)
	if l.Items != nil {
		out.Items = make([]Sandbox, len(l.Items))
		for i := range l.Items {
			l.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopy copies l.
func (l *SandboxList) DeepCopy() *SandboxList {
	if l == nil {
		return nil
	}
	out := new(SandboxList)
	l.DeepCopyInto(out)
	return out
}

// DeepCopyObject is runtime.Object's copy.
func (l *SandboxList) DeepCopyObject() runtime.Object { return l.DeepCopy() }

// DeepCopyInto copies s into out.
func (s *SandboxSpec) DeepCopyInto(out *SandboxSpec) {
	*out = *s
	out.Memory, out.Disk = copyQuantity(s.Memory), copyQuantity(s.Disk)
	out.NAT = copyPtr(s.NAT)
	out.TTL = copyPtr(s.TTL)
	out.Command = append([]string(nil), s.Command...)
	if s.Workspace != nil {
		w := *s.Workspace
		w.Git, w.ConfigMap, w.Secret = copyPtr(w.Git), copyPtr(w.ConfigMap), copyPtr(w.Secret)
		out.Workspace = &w
	}
	if s.NodeSelector != nil {
		out.NodeSelector = make(map[string]string, len(s.NodeSelector))
		for k, v := range s.NodeSelector {
			out.NodeSelector[k] = v
		}
	}
	if s.Tolerations != nil {
		out.Tolerations = make([]corev1.Toleration, len(s.Tolerations))
		for i := range s.Tolerations {
			s.Tolerations[i].DeepCopyInto(&out.Tolerations[i])
		}
	}
}

// DeepCopyInto copies s into out.
func (s *SandboxStatus) DeepCopyInto(out *SandboxStatus) {
	*out = *s
	out.StartTime, out.EndTime = s.StartTime.DeepCopy(), s.EndTime.DeepCopy()
	out.ExitCode = copyPtr(s.ExitCode)
	if s.Conditions != nil {
		out.Conditions = make([]metav1.Condition, len(s.Conditions))
		for i := range s.Conditions {
			s.Conditions[i].DeepCopyInto(&out.Conditions[i])
		}
	}
}

// copyPtr copies what p points to (a value without pointers inside).
func copyPtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// DeepCopy copies s.
func (s *SandboxStatus) DeepCopy() *SandboxStatus {
	if s == nil {
		return nil
	}
	out := new(SandboxStatus)
	s.DeepCopyInto(out)
	return out
}

func copyQuantity(q *resource.Quantity) *resource.Quantity {
	if q == nil {
		return nil
	}
	c := q.DeepCopy()
	return &c
}
