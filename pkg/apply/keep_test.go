package apply_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/inventory"
)

// TestKeptObjectsSurviveDeleteAndPrune: an object marked to be kept —
// cli-utils' own on-remove=keep, or Helm's resource-policy=keep as the
// Nextcloud chart marks its data PVC — survives a prune (it left the
// desired set) and a delete job, leaves the inventory, and is reported
// skipped with the reason. An object applied before pushd honoured Helm's
// mark (the live object carries Helm's only) is kept too.
func TestKeptObjectsSurviveDeleteAndPrune(t *testing.T) {
	ctx := context.Background()
	marks := map[string][2]string{
		"on-remove": {"cli-utils.sigs.k8s.io/on-remove", "keep"},
		"helm":      {"helm.sh/resource-policy", "keep"},
	}
	cm := func(name string, annotations map[string]any) *unstructured.Unstructured {
		meta := map[string]any{"name": name}
		if annotations != nil {
			meta["annotations"] = annotations
		}
		return &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": map[string]any{"k": "v"}}}
	}
	apply1 := func(t *testing.T, e *env, objs ...*unstructured.Unstructured) *apply.Result {
		t.Helper()
		res, err := e.engine.Apply(ctx, apply.Request{Namespace: e.ns, Application: "data", Objects: objs, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// kept checks the outcome for the kept object "data" in a run's result.
	kept := func(t *testing.T, e *env, res *apply.Result, mark string) {
		t.Helper()
		if !e.exists(t, "configmaps", "data") {
			t.Fatal("the kept object was deleted")
		}
		got := find(res, "data")
		if got.Action != apply.ActionSkipped || !strings.Contains(got.Message, mark) || !strings.Contains(got.Message, "left in place") {
			t.Errorf("kept object reported %+v, want skipped, left in place, naming %s", got, mark)
		}
		key := inventory.Key{Cluster: clusterID, Namespace: e.ns, Application: "data"}
		if inv := e.inventory(t, key); inv != nil {
			for id := range inv.Data {
				if strings.Contains(id, "_data_") {
					t.Errorf("the inventory still lists the kept object: %v", inv.Data)
				}
			}
		}
		if owner := e.get(t, "configmaps", "data").GetAnnotations()[inventory.OwningInventoryAnnotation]; owner != "" {
			t.Errorf("the kept object still names its inventory %q", owner)
		}
	}

	for name, m := range marks {
		mark := m[0] + "=" + m[1]
		t.Run(name+": prune", func(t *testing.T) {
			e := newEnv(t, true, apply.Options{})
			apply1(t, e, cm("data", map[string]any{m[0]: m[1]}), cm("web", nil))
			res := apply1(t, e, cm("web", nil))
			kept(t, e, res, mark)
			if got := find(res, "web"); got.Action != apply.ActionUnchanged {
				t.Errorf("web: %+v, want unchanged", got)
			}
			// No longer pushd's: listing it again is an ownership conflict.
			_, err := e.engine.Apply(ctx, apply.Request{Namespace: e.ns, Application: "data", Objects: []*unstructured.Unstructured{cm("data", nil), cm("web", nil)}, Timeout: time.Minute})
			var owned *apply.OwnershipError
			if !errors.As(err, &owned) || owned.Object.Name != "data" {
				t.Errorf("re-listing the kept object: %v, want an OwnershipError", err)
			}
		})
		t.Run(name+": delete", func(t *testing.T) {
			e := newEnv(t, true, apply.Options{})
			apply1(t, e, cm("data", map[string]any{m[0]: m[1]}), cm("web", nil))
			res, err := e.engine.Destroy(ctx, apply.Request{Namespace: e.ns, Application: "data", Timeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			kept(t, e, res, mark)
			if e.exists(t, "configmaps", "web") {
				t.Error("the object without a mark was not deleted")
			}
		})
	}

	// Applied before Stamp added cli-utils' mark: the live object has Helm's only.
	for _, verb := range []string{"prune", "delete"} {
		t.Run("helm only on the live object: "+verb, func(t *testing.T) {
			e := newEnv(t, true, apply.Options{})
			apply1(t, e, cm("data", map[string]any{"helm.sh/resource-policy": "keep"}), cm("web", nil))
			patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{"cli-utils.sigs.k8s.io/on-remove": nil}}})
			cms := e.adminDyn.Resource(corev1.SchemeGroupVersion.WithResource("configmaps")).Namespace(e.ns)
			if _, err := cms.Patch(ctx, "data", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
			var res *apply.Result
			if verb == "prune" {
				res = apply1(t, e, cm("web", nil))
			} else {
				var err error
				if res, err = e.engine.Destroy(ctx, apply.Request{Namespace: e.ns, Application: "data", Timeout: time.Minute}); err != nil {
					t.Fatal(err)
				}
			}
			kept(t, e, res, "helm.sh/resource-policy=keep")
		})
	}
}
