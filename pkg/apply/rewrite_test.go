package apply_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/vworkspace/pushd/pkg/apply"
)

// TestUnchangedResubmitWritesNothing: re-submitting what the cluster holds
// while one object is not Current yet (a Deployment: the bed runs no
// scheduler and no kubelet, so its pods never become ready) sends the
// dry-runs and no write at all: no object is written a second time, and
// the run waits for the Deployment as before.
func TestUnchangedResubmitWritesNothing(t *testing.T) {
	ctx := context.Background()
	rules := append([]rbacv1.PolicyRule{
		{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch", "create", "patch", "update", "delete"}},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
	}, scopedRole...)
	e := newEnvWithRules(t, true, rules, apply.Options{})
	objects := func() []*unstructured.Unstructured {
		var objs []*unstructured.Unstructured
		for i := range 5 {
			objs = append(objs, &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "v1", "kind": "ConfigMap",
				"metadata": map[string]any{"name": fmt.Sprintf("cfg-%d", i)},
				"data":     map[string]any{"value": "a"},
			}})
		}
		return append(objs, &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "web"},
			"spec": map[string]any{
				"replicas": int64(1),
				"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
				"template": map[string]any{
					"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
					"spec":     map[string]any{"containers": []any{map[string]any{"name": "web", "image": "nginx:1.27"}}},
				},
			},
		}})
	}
	run := func() (*apply.Result, []string) {
		t.Helper()
		e.requests.take()
		res, err := e.engine.Apply(ctx, apply.Request{Namespace: e.ns, Application: "web", Objects: objects(), Timeout: 2 * time.Second})
		var timeout *apply.TimeoutError
		if !errors.As(err, &timeout) || len(timeout.Objects) != 1 || timeout.Objects[0].Name != "web" {
			t.Fatalf("err = %v, want a timeout waiting for the Deployment", err)
		}
		return res, e.requests.take()
	}
	writes := func(reqs []string) []string {
		var out []string
		for _, r := range reqs {
			method, _, _ := strings.Cut(r, " ")
			if (method == "PATCH" || method == "PUT" || method == "POST" || method == "DELETE") && !strings.Contains(r, "dryRun=All") {
				out = append(out, r)
			}
		}
		return out
	}

	if _, reqs := run(); len(writes(reqs)) < 6 {
		t.Fatalf("the first apply wrote %d requests, want at least one per object:\n%s", len(writes(reqs)), strings.Join(reqs, "\n"))
	}
	res, reqs := run()
	if w := writes(reqs); len(w) > 0 {
		t.Errorf("an unchanged re-submit of 6 objects sent %d writes, want none:\n%s", len(w), strings.Join(w, "\n"))
	}
	for _, o := range res.Objects {
		want := "Current"
		if o.Kind == "Deployment" {
			want = "InProgress"
		}
		if o.Action != apply.ActionUnchanged || o.Status != want {
			t.Errorf("%s: %s/%s, want unchanged/%s", o.Name, o.Action, o.Status, want)
		}
	}
	t.Logf("unchanged re-submit: %d requests, %d writes for 6 objects", len(reqs), len(writes(reqs)))
}

// TestCancelWhileWaitingIsAnError: a run cancelled while it waits for an
// object written in parallel reports the cancel, not success.
func TestCancelWhileWaitingIsAnError(t *testing.T) {
	e := newEnv(t, true, apply.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel)
	res, err := e.engine.Apply(ctx, apply.Request{Namespace: e.ns, Application: "stuck", Objects: load(t, "hanging.yaml"), Timeout: time.Minute})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want it to wrap context.Canceled", err)
	}
	if got := find(res, "stuck"); got.Action != apply.ActionCreated || got.Status != "InProgress" {
		t.Errorf("stuck: %+v, want created/InProgress", got)
	}
}
