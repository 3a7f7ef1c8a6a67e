package kubeenv

import (
	"context"
	"fmt"

	authv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Apply creates each object of the manifest at path (one or more YAML
// documents) as the admin user; an object that exists already is left as
// it is.
func (e *Env) Apply(ctx context.Context, path string) error {
	objs, err := readObjects(path)
	if err != nil {
		return err
	}
	c, err := client.New(e.RESTConfig(), client.Options{})
	if err != nil {
		return fmt.Errorf("client for %s: %w", e.Server, err)
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("apply %s: create %s %s: %w", path, o.GetKind(), o.GetName(), err)
		}
	}
	return nil
}

// KubeconfigAs writes a kubeconfig to path that acts as the
// ServiceAccount name in namespace ns, with a token from the TokenRequest
// API (an hour long) and ns as its namespace: a component run with it has
// exactly the rights its RBAC gives it.
func (e *Env) KubeconfigAs(ctx context.Context, ns, name, path string) error {
	cs, err := kubernetes.NewForConfig(e.RESTConfig())
	if err != nil {
		return fmt.Errorf("client for %s: %w", e.Server, err)
	}
	hour := int64(3600)
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name,
		&authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &hour}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for serviceaccount %s/%s: %w", ns, name, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubeenv"] = &clientcmdapi.Cluster{Server: e.Server, CertificateAuthority: e.CAFile}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["kubeenv"] = &clientcmdapi.Context{Cluster: "kubeenv", AuthInfo: name, Namespace: ns}
	cfg.CurrentContext = "kubeenv"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
