package apply_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/inventory"
)

// TestApplicationsRunConcurrently: one engine serves jobs of several
// applications at once, in one namespace, each with its own inventory, and
// pruning one application never touches another's objects.
func TestApplicationsRunConcurrently(t *testing.T) {
	e := newEnv(t, true, apply.Options{})
	apps := []string{"alpha", "beta", "gamma"}
	objects := func(app string, withConfig bool) []*unstructured.Unstructured {
		objs := []*unstructured.Unstructured{{Object: map[string]any{
			"apiVersion": "vworkspace.io/v1alpha1", "kind": "Application",
			"metadata": map[string]any{"name": app},
			"spec":     map[string]any{"chart": app},
		}}}
		if withConfig {
			objs = append(objs, &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": app + "-config"},
				"data":     map[string]any{"app": app},
			}})
		}
		return objs
	}
	run := func(withConfig bool) {
		var wg sync.WaitGroup
		errs := make([]error, len(apps))
		for i, app := range apps {
			wg.Go(func() {
				_, errs[i] = e.engine.Apply(context.Background(), apply.Request{Namespace: e.ns, Application: app, Objects: objects(app, withConfig), Timeout: time.Minute})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("%s: %v", apps[i], err)
			}
		}
	}
	run(true)
	// Only alpha drops its ConfigMap; the others keep theirs.
	if _, err := e.engine.Apply(context.Background(), apply.Request{Namespace: e.ns, Application: "alpha", Objects: objects("alpha", false), Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	for _, app := range apps {
		key := inventory.Key{Cluster: clusterID, Namespace: e.ns, Application: app}
		want := 2
		if app == "alpha" {
			want = 1
		}
		if inv := e.inventory(t, key); inv == nil || len(inv.Data) != want {
			t.Errorf("%s: inventory %v, want %d objects", app, inv, want)
		}
		if got := e.exists(t, "configmaps", app+"-config"); got != (app != "alpha") {
			t.Errorf("%s-config exists = %v", app, got)
		}
	}
}
