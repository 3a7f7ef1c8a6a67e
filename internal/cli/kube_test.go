package cli

import (
	"strings"
	"testing"
	"time"

	"banger/internal/kube/v1alpha1"
)

func TestKubeRunSandboxFromFlags(t *testing.T) {
	f := kubeRunFlags{vcpus: 2, memory: "768Mi", disk: "8Gi", ttl: "30m", nat: true, configMap: "src/tree.tar.gz"}
	sb, err := f.sandbox("team", []string{"make", "test"})
	if err != nil {
		t.Fatal(err)
	}
	if sb.Namespace != "team" || sb.GenerateName != "run-" || sb.Spec.VCPUs != 2 || sb.Spec.Memory.Value() != 768<<20 ||
		sb.Spec.Disk.Value() != 8<<30 || sb.Spec.TTL.Duration != 30*time.Minute || !*sb.Spec.NAT {
		t.Errorf("sandbox %+v", sb)
	}
	if ws := sb.Spec.Workspace; ws == nil || ws.ConfigMap == nil || *ws.ConfigMap != (v1alpha1.TarballSource{Name: "src", Key: "tree.tar.gz"}) {
		t.Errorf("workspace %+v, want configMap src key tree.tar.gz", sb.Spec.Workspace)
	}
	if strings.Join(sb.Spec.Command, " ") != "make test" {
		t.Errorf("command %v", sb.Spec.Command)
	}
}

func TestKubeRunRefusesBadFlags(t *testing.T) {
	for _, c := range []struct {
		f    kubeRunFlags
		want string
	}{
		{kubeRunFlags{memory: "lots"}, "--memory"},
		{kubeRunFlags{memory: "1Gi", disk: "big"}, "--disk"},
		{kubeRunFlags{memory: "1Gi", ttl: "soon"}, "--ttl"},
		{kubeRunFlags{memory: "1Gi", ttl: "-5m"}, "--ttl"},
		{kubeRunFlags{memory: "1Gi", gitURL: "https://x/r.git", configMap: "a/b"}, "give one workspace"},
		{kubeRunFlags{memory: "1Gi", configMap: "justaname"}, "NAME/KEY"},
	} {
		if _, err := c.f.sandbox("ns", nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("flags %+v: error %v, want one about %s", c.f, err, c.want)
		}
	}
}
