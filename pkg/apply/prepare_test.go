package apply

import (
	"errors"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/vworkspace/pushd/internal/golden"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/inventory"
)

// staticMapper is a fixed discovery, with the Reset a cached one has.
type staticMapper struct{ *meta.DefaultRESTMapper }

func (staticMapper) Reset() {}

// TestPrepareRefusals pins what the engine refuses before it sends anything
// — every refused object with its rule and text — in
// testdata/prepare-refusals.json, and the objects it would write.
func TestPrepareRefusals(t *testing.T) {
	m := meta.NewDefaultRESTMapper(nil)
	for _, gvk := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "ConfigMap"}, {Version: "v1", Kind: "Secret"}, {Version: "v1", Kind: "Service"},
		{Version: "v1", Kind: "ServiceAccount"},
	} {
		m.Add(gvk, meta.RESTScopeNamespace)
	}
	m.Add(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}, meta.RESTScopeRoot)
	e := &Engine{c: &clusters.Clients{ClusterID: "prod-1", Mapper: staticMapper{m}}}
	key := inventory.Key{Cluster: "prod-1", Namespace: "shop", Application: "web"}
	obj := func(apiVersion, kind, name string, meta map[string]any, fields map[string]any) *unstructured.Unstructured {
		md := map[string]any{"name": name}
		for k, v := range meta {
			md[k] = v
		}
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": apiVersion, "kind": kind, "metadata": md}}
		for k, v := range fields {
			u.Object[k] = v
		}
		return u
	}
	objs := []*unstructured.Unstructured{
		obj("v1", "ConfigMap", "fine", nil, nil),
		nil,
		obj("v1", "ConfigMap", "", nil, nil),
		obj("v1", "", "kindless", nil, nil),
		obj("v1", "Namespace", "evil", map[string]any{"namespace": "other"}, nil),
		obj("v1", "ConfigMap", "elsewhere", map[string]any{"namespace": "default"}, nil),
		obj("v1", "ConfigMap", "theirs", map[string]any{"labels": map[string]any{inventory.ClusterIDLabel: "prod-2"}}, nil),
		obj("v1", "ConfigMap", "both", map[string]any{"namespace": "default", "labels": map[string]any{inventory.ClusterIDLabel: "prod-2"}}, nil),
		obj("v1", "ConfigMap", "fine", map[string]any{"namespace": "shop"}, nil),
		obj("v1", "ServiceAccount", "sa", nil, nil),
		obj("vworkspace.io/v1alpha1", "Unknown", "u", nil, nil),
	}
	type refused struct{ Object, Rule, Detail, Error string }
	type answer struct {
		Refused []refused `json:",omitempty"`
		Targets []string  `json:",omitempty"`
	}
	run := func(objs []*unstructured.Unstructured) answer {
		targets, err := e.prepare(key, objs)
		var a answer
		if err != nil {
			for _, err := range err.(interface{ Unwrap() []error }).Unwrap() {
				var re *RefusedError
				if !errors.As(err, &re) {
					t.Fatalf("not a refusal: %v", err)
				}
				a.Refused = append(a.Refused, refused{re.Object.String(), string(re.Rule), re.Detail, re.Error()})
			}
		}
		for _, tg := range targets {
			a.Targets = append(a.Targets, tg.ref.String()+" "+tg.obj.GetLabels()[inventory.ClusterIDLabel])
		}
		return a
	}
	got := map[string]answer{
		"refused":  run(objs),
		"accepted": run([]*unstructured.Unstructured{obj("v1", "ConfigMap", "a", nil, nil), obj("v1", "ServiceAccount", "sa", map[string]any{"namespace": "shop"}, nil)}),
		"policy": run([]*unstructured.Unstructured{
			obj("v1", "Secret", "tok", nil, map[string]any{"type": "kubernetes.io/service-account-token"}),
			obj("v1", "Service", "ext", nil, map[string]any{"spec": map[string]any{"externalIPs": []any{"10.0.0.1"}}}),
		}),
	}
	golden.JSON(t, filepath.Join("testdata", "prepare-refusals.json"), got)
}
