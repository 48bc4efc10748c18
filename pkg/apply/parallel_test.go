package apply_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vworkspace/pushd/pkg/apply"
	"github.com/vworkspace/pushd/pkg/inventory"
)

// TestObjectsAreWrittenWithoutPerObjectReads: a run whose objects need no
// pruning and belong to no other inventory writes them in parallel with one
// server-side apply each, after the preflight, with no GET per object
// (cli-utils' serial apply reads every object before it patches it), and
// still records them in the inventory.
func TestObjectsAreWrittenWithoutPerObjectReads(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, true, apply.Options{})
	objs := func(value string) []*unstructured.Unstructured {
		var out []*unstructured.Unstructured
		for i := range 30 {
			out = append(out, &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": fmt.Sprintf("par-%d", i)},
				"data":     map[string]any{"value": value},
			}})
		}
		return out
	}
	for _, step := range []struct{ value, action string }{{"a", apply.ActionCreated}, {"b", apply.ActionConfigured}} {
		e.requests.take()
		res, err := e.engine.Apply(ctx, apply.Request{Namespace: e.ns, Application: "par", Objects: objs(step.value), Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		reqs := e.requests.take()
		for _, o := range res.Objects {
			if o.Action != step.action || o.Status != "Current" {
				t.Errorf("%s: %s/%s, want %s/Current", o.Name, o.Action, o.Status, step.action)
			}
		}
		var perObjectGets, writes int
		for _, r := range reqs {
			if strings.HasPrefix(r, "GET ") && strings.Contains(r, "/configmaps/par-") {
				perObjectGets++
			}
			if strings.HasPrefix(r, "PATCH ") && !strings.Contains(r, "dryRun") {
				writes++
			}
		}
		if perObjectGets > 0 || writes != 30 {
			t.Errorf("%s: %d GETs of single objects and %d writes, want 0 and 30; requests:\n%s", step.value, perObjectGets, writes, strings.Join(reqs, "\n"))
		}
		if len(reqs) > 2*30+8 {
			t.Errorf("%s: %d requests for 30 objects, want at most 68", step.value, len(reqs))
		}
		key := inventory.Key{Cluster: clusterID, Namespace: e.ns, Application: "par"}
		if inv := e.inventory(t, key); inv == nil || len(inv.Data) != 30 {
			t.Errorf("%s: inventory %v, want 30 objects", step.value, inv)
		}
	}
}
