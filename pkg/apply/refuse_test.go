package apply_test

import (
	"context"
	"errors"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/inventory"
)

// TestRefusedObjects checks the rules the engine enforces before sending
// anything, even though the API refuses such jobs first.
func TestRefusedObjects(t *testing.T) {
	e := newEnv(t, true, apply.Options{})
	configMap := func(mutate func(*unstructured.Unstructured)) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "cfg"},
			"data":     map[string]any{"k": "v"},
		}}
		if mutate != nil {
			mutate(u)
		}
		return u
	}
	tests := []struct {
		name string
		objs []*unstructured.Unstructured
		want apply.Rule
	}{
		{
			name: "another namespace",
			objs: []*unstructured.Unstructured{configMap(func(u *unstructured.Unstructured) { u.SetNamespace("kube-system") })},
			want: apply.RuleNamespaceMismatch,
		},
		{
			name: "cluster-scoped kind",
			objs: []*unstructured.Unstructured{{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "sneaky"}}}},
			want: apply.RuleClusterScoped,
		},
		{
			name: "cluster-id label of another cluster",
			objs: []*unstructured.Unstructured{configMap(func(u *unstructured.Unstructured) {
				u.SetLabels(map[string]string{inventory.ClusterIDLabel: "prod-2"})
			})},
			want: apply.RuleClusterIDMismatch,
		},
		{
			name: "same object twice",
			objs: []*unstructured.Unstructured{configMap(nil), configMap(nil)},
			want: apply.RuleDuplicate,
		},
		{
			name: "no name",
			objs: []*unstructured.Unstructured{configMap(func(u *unstructured.Unstructured) { u.SetName("") })},
			want: apply.RuleMalformed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.engine.Apply(context.Background(), apply.Request{Namespace: e.ns, Application: "web", Objects: tt.objs})
			var refused *apply.RefusedError
			if !errors.As(err, &refused) || refused.Rule != tt.want {
				t.Fatalf("err = %v, want a RefusedError for %s", err, tt.want)
			}
			if res != nil {
				t.Errorf("result = %+v, want none", res)
			}
		})
	}
	cms, err := e.admin.CoreV1().ConfigMaps(e.ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cms.Items) > 0 {
		t.Errorf("refused requests wrote %d ConfigMaps", len(cms.Items))
	}
	// The caller's objects are the caller's: the engine works on copies.
	objs := []*unstructured.Unstructured{configMap(nil)}
	if _, err := e.engine.Apply(context.Background(), apply.Request{Namespace: e.ns, Application: "copy", Objects: objs}); err != nil {
		t.Fatal(err)
	}
	if objs[0].GetNamespace() != "" || len(objs[0].GetLabels()) != 0 {
		t.Errorf("Apply changed the caller's object: %v", objs[0].Object["metadata"])
	}
}
