package kubeenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"

	"banger/internal/poll"
)

// crdResource is where CustomResourceDefinitions live.
func crdResource() schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
}

// establishTimeout bounds the wait for a CRD to be served.
const establishTimeout = time.Minute

// ApplyCRD creates or updates each CustomResourceDefinition in the YAML
// file yamlPath (one or more documents) and waits until each is
// Established, so that its resources can be used at once.
func (e *Env) ApplyCRD(ctx context.Context, yamlPath string) error {
	crds, err := readCRDs(yamlPath)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(e.RESTConfig())
	if err != nil {
		return fmt.Errorf("client for %s: %w", e.Server, err)
	}
	api := dyn.Resource(crdResource())
	for _, crd := range crds {
		if err := applyCRD(ctx, api, crd); err != nil {
			return err
		}
	}
	for _, crd := range crds {
		if err := waitEstablished(ctx, api, crd.GetName()); err != nil {
			return err
		}
	}
	return nil
}

// readCRDs parses the documents of a YAML file, each of which must be a
// CustomResourceDefinition.
func readCRDs(path string) ([]*unstructured.Unstructured, error) {
	crds, err := readObjects(path)
	if err != nil {
		return nil, err
	}
	for _, u := range crds {
		if u.GetKind() != "CustomResourceDefinition" {
			return nil, fmt.Errorf("%s: %s %q is not a CustomResourceDefinition", path, u.GetKind(), u.GetName())
		}
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("%s: no CustomResourceDefinition", path)
	}
	return crds, nil
}

// readObjects parses the documents of a YAML (or JSON) file, skipping
// empty ones.
func readObjects(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	var objs []*unstructured.Unstructured
	for {
		obj := map[string]any{}
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return objs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", path, err)
		}
		if len(obj) != 0 {
			objs = append(objs, &unstructured.Unstructured{Object: obj})
		}
	}
}

// applyCRD creates crd, or replaces the spec of the one by its name.
func applyCRD(ctx context.Context, api dynamic.ResourceInterface, crd *unstructured.Unstructured) error {
	_, err := api.Create(ctx, crd, metav1.CreateOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create CRD %s: %w", crd.GetName(), err)
	}
	cur, err := api.Get(ctx, crd.GetName(), metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("get CRD %s: %w", crd.GetName(), err)
	}
	next := crd.DeepCopy()
	next.SetResourceVersion(cur.GetResourceVersion())
	if _, err := api.Update(ctx, next, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update CRD %s: %w", crd.GetName(), err)
	}
	return nil
}

// waitEstablished waits for the CRD's Established condition to be True.
func waitEstablished(ctx context.Context, api dynamic.ResourceInterface, name string) error {
	ctx, cancel := context.WithTimeout(ctx, establishTimeout)
	defer cancel()
	err := poll.Until(ctx, 100*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		cur, err := api.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("get CRD %s: %w", name, err)
		}
		conds, _, _ := unstructured.NestedSlice(cur.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("wait for CRD %s to be established: %w", name, err)
	}
	return nil
}
