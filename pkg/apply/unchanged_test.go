package apply_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vworkspace/pushd/pkg/apply"
)

// TestUnchangedApplySkipsTheWritePath: re-applying what the cluster already
// holds, with the inventory already listing exactly those objects, ends
// after the preflight: one dry-run per object and a few LISTs, no write.
// Any difference — a changed object, an object more or fewer, an object not
// yet reconciled — takes the full path.
func TestUnchangedApplySkipsTheWritePath(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, true, apply.Options{})
	objects := func(n int, value string) []*unstructured.Unstructured {
		var objs []*unstructured.Unstructured
		for i := range n {
			objs = append(objs, &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": fmt.Sprintf("cfg-%d", i)},
				"data":     map[string]any{"value": value},
			}})
		}
		return append(objs, load(t, "app.yaml")...)
	}
	run := func(objs []*unstructured.Unstructured) (*apply.Result, []string) {
		t.Helper()
		e.requests.take()
		res, err := e.engine.Apply(ctx, apply.Request{Namespace: e.ns, Application: "web", Objects: objs, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return res, e.requests.take()
	}
	writes := func(reqs []string) []string {
		var out []string
		for _, r := range reqs {
			if !strings.HasPrefix(r, "GET ") && !strings.Contains(r, "dryRun=All") {
				out = append(out, r)
			}
		}
		return out
	}
	actions := func(res *apply.Result) map[string]int {
		out := map[string]int{}
		for _, o := range res.Objects {
			out[o.Action+"/"+o.Status]++
		}
		return out
	}

	run(objects(20, "a"))

	t.Run("unchanged: no write, about one request per object", func(t *testing.T) {
		res, reqs := run(objects(20, "a"))
		if got := actions(res); got["unchanged/Current"] != 21 || len(got) != 1 {
			t.Errorf("actions %v, want 21 unchanged/Current", got)
		}
		if w := writes(reqs); len(w) > 0 {
			t.Errorf("an unchanged apply wrote:\n%s", strings.Join(w, "\n"))
		}
		// 21 dry-runs, the namespace, the inventory, one LIST per kind.
		if len(reqs) > 21+4 {
			t.Errorf("%d requests for 21 unchanged objects, want at most 25:\n%s", len(reqs), strings.Join(reqs, "\n"))
		}
	})

	t.Run("one object changed: full path", func(t *testing.T) {
		objs := objects(20, "a")
		objs[3].Object["data"] = map[string]any{"value": "b"}
		res, reqs := run(objs)
		if got := actions(res); got["configured/Current"] != 1 || got["unchanged/Current"] != 20 {
			t.Errorf("actions %v, want 1 configured and 20 unchanged", got)
		}
		if len(writes(reqs)) == 0 {
			t.Error("a changed object was not written")
		}
	})

	t.Run("one object fewer: full path prunes it", func(t *testing.T) {
		objs := objects(20, "a")
		objs[3].Object["data"] = map[string]any{"value": "b"}
		res, _ := run(append(objs[:19:19], objs[20]))
		if got := find(res, "cfg-19"); got.Action != apply.ActionPruned {
			t.Errorf("cfg-19: %s, want pruned", got.Action)
		}
		if e.exists(t, "configmaps", "cfg-19") {
			t.Error("cfg-19 was not pruned")
		}
	})

	t.Run("object changed by hand: full path puts it back", func(t *testing.T) {
		objs := objects(19, "a")
		objs[3].Object["data"] = map[string]any{"value": "b"}
		run(objs)
		live := e.get(t, "configmaps", "cfg-5")
		live.Object["data"] = map[string]any{"value": "by hand"}
		if _, err := e.adminDyn.Resource(corev1.SchemeGroupVersion.WithResource("configmaps")).Namespace(e.ns).Update(ctx, live, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		res, reqs := run(objs)
		if got := find(res, "cfg-5"); got.Action != apply.ActionConfigured {
			t.Errorf("cfg-5: %s, want configured", got.Action)
		}
		if len(writes(reqs)) == 0 {
			t.Error("nothing written")
		}
		if v, _, _ := unstructured.NestedString(e.get(t, "configmaps", "cfg-5").Object, "data", "value"); v != "a" {
			t.Errorf("cfg-5 value %q, want a", v)
		}
	})
}
