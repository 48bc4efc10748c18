package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vworkspace/pushd/internal/apitest"
	"github.com/vworkspace/pushd/internal/dbtest"
)

// TestRefusalListsEveryObject: a chart's ServiceAccount, Role and
// RoleBinding are all refused, and the answer names the three (one
// details entry each), with the first refusal's code and message as
// before; a job with more refusals than the bound lists the bound and
// counts the rest. Nothing of a manifest's content is echoed.
func TestRefusalListsEveryObject(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		_, job := apitest.JobFixture(t, e)
		obj := func(apiVersion, kind, name string) map[string]any {
			return map[string]any{"apiVersion": apiVersion, "kind": kind,
				"metadata": map[string]any{"name": name, "annotations": map[string]string{"note": "canary-manifest-content"}}}
		}
		manifests := []any{
			map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "settings"}, "data": map[string]string{"k": "v"}},
			obj("v1", "ServiceAccount", "nextcloud"),
			obj("rbac.authorization.k8s.io/v1", "Role", "nextcloud"),
			obj("rbac.authorization.k8s.io/v1", "RoleBinding", "nextcloud"),
		}
		r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, job(func(j map[string]any) { j["manifests"] = manifests }))
		if r.Status != 422 || r.Code(t) != "kind_not_allowed" {
			t.Fatalf("got %d %s, want 422 kind_not_allowed", r.Status, r.Body)
		}
		body := r.JSON(t)["error"].(map[string]any)
		if msg := body["message"].(string); !strings.HasPrefix(msg, `ServiceAccount "nextcloud": kind ServiceAccount is not allowed`) {
			t.Errorf("message %q, want the first refusal's", msg)
		}
		want := []any{
			map[string]any{"field": "manifests[1]", "rule": "kind_not_allowed", "api_version": "v1", "kind": "ServiceAccount", "name": "nextcloud"},
			map[string]any{"field": "manifests[2]", "rule": "kind_not_allowed", "api_version": "rbac.authorization.k8s.io/v1", "kind": "Role", "name": "nextcloud"},
			map[string]any{"field": "manifests[3]", "rule": "kind_not_allowed", "api_version": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "name": "nextcloud"},
		}
		if diff := cmp.Diff(want, body["details"]); diff != "" {
			t.Errorf("details (-want +got):\n%s", diff)
		}
		if strings.Contains(string(r.Body), "canary-manifest-content") {
			t.Errorf("the answer quotes a manifest: %s", r.Body)
		}

		// One object breaking two rules is two entries.
		two := obj("rbac.authorization.k8s.io/v1", "Role", "r")
		two["metadata"].(map[string]any)["namespace"] = "default"
		r = e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, job(func(j map[string]any) { j["manifests"] = []any{two} }))
		if got := len(r.JSON(t)["error"].(map[string]any)["details"].([]any)); r.Status != 422 || got != 2 {
			t.Errorf("a Role in another namespace: %d with %d details, want 422 with 2: %s", r.Status, got, r.Body)
		}

		// The bound: 150 refused objects list 100 and count 50.
		var many []any
		for i := range 150 {
			many = append(many, obj("v1", "ServiceAccount", fmt.Sprintf("sa-%d", i)))
		}
		r = e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, job(func(j map[string]any) { j["manifests"] = many }))
		details := r.JSON(t)["error"].(map[string]any)["details"].([]any)
		if r.Status != 422 || len(details) != 101 {
			t.Fatalf("150 refusals: %d with %d details, want 422 with 100 and a count", r.Status, len(details))
		}
		if last := details[100].(map[string]any); last["reason"] != "more_refusals" || last["omitted"] != float64(50) {
			t.Errorf("last entry %v, want more_refusals with 50 omitted", last)
		}
	})
}
