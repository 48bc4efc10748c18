package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/clusters/bootstrap"
)

// TestRefusalListsEveryObject: a chart's ServiceAccount, Role and
// RoleBinding are all refused, and the answer names the three (one
// details entry each), with the first refusal's code and message as
// before; a job with more refusals than the bound lists the bound and
// counts the rest. Nothing of a manifest's content is echoed.
func TestRefusalListsEveryObject(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		_, job := jobFixture(t, e)
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
		r := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, job(func(j map[string]any) { j["manifests"] = manifests }))
		if r.status != 422 || r.code(t) != "kind_not_allowed" {
			t.Fatalf("got %d %s, want 422 kind_not_allowed", r.status, r.body)
		}
		body := r.json(t)["error"].(map[string]any)
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
		if strings.Contains(string(r.body), "canary-manifest-content") {
			t.Errorf("the answer quotes a manifest: %s", r.body)
		}

		// One object breaking two rules is two entries.
		two := obj("rbac.authorization.k8s.io/v1", "Role", "r")
		two["metadata"].(map[string]any)["namespace"] = "default"
		r = e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, job(func(j map[string]any) { j["manifests"] = []any{two} }))
		if got := len(r.json(t)["error"].(map[string]any)["details"].([]any)); r.status != 422 || got != 2 {
			t.Errorf("a Role in another namespace: %d with %d details, want 422 with 2: %s", r.status, got, r.body)
		}

		// The bound: 150 refused objects list 100 and count 50.
		var many []any
		for i := range 150 {
			many = append(many, obj("v1", "ServiceAccount", fmt.Sprintf("sa-%d", i)))
		}
		r = e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, job(func(j map[string]any) { j["manifests"] = many }))
		details := r.json(t)["error"].(map[string]any)["details"].([]any)
		if r.status != 422 || len(details) != 101 {
			t.Fatalf("150 refusals: %d with %d details, want 422 with 100 and a count", r.status, len(details))
		}
		if last := details[100].(map[string]any); last["reason"] != "more_refusals" || last["omitted"] != float64(50) {
			t.Errorf("last entry %v, want more_refusals with 50 omitted", last)
		}
	})
}

// TestAutoscalerAndBudgetApplyWithBootstrappedCredential: a job with a
// HorizontalPodAutoscaler and a PodDisruptionBudget (podinfo's base ships
// both) is accepted by default and applied with the least-privilege
// credential bootstrap mints, which the probe finds neither short of
// rights nor over-privileged.
func TestAutoscalerAndBudgetApplyWithBootstrappedCredential(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		c := bed.Clusters()[0]
		ctx := context.Background()
		kube, err := kubernetes.NewForConfig(c.AdminConfig())
		if err != nil {
			t.Fatal(err)
		}
		n, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			GenerateName: "hpa-", Labels: map[string]string{clusters.ManagedNamespaceLabel: clusters.ManagedNamespaceValue}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ns, id := n.Name, "acme-"+n.Name
		boot, err := bootstrap.Run(ctx, c.AdminConfig(), bootstrap.Options{ClusterID: id, Namespaces: []string{ns}})
		if err != nil {
			t.Fatal(err)
		}
		// accept_excess_rights unset: the job is only accepted if the probe
		// found no excess rights either.
		rec := record(ns)
		if r := e.write(t, http.MethodPut, "/api/v1/clusters/"+id, acmeSecret, mustJSON(t, rec)); r.status != http.StatusCreated {
			t.Fatalf("cluster: %d %s", r.status, r.body)
		}
		if r := e.write(t, http.MethodPut, "/api/v1/clusters/"+id+"/kubeconfig", acmeSecret, kubeconfig(t, boot.Credential.Token, nil)); r.status != http.StatusOK {
			t.Fatalf("kubeconfig: %d %s", r.status, r.body)
		}
		if r := e.read(t, "/api/v1/clusters/"+id, acmeToken); !strings.Contains(string(r.body), `"rights_ok":true`) || !strings.Contains(string(r.body), `"missing_rights":[]`) {
			t.Errorf("the probe finds the bootstrapped rights short: %s", r.body)
		}
		jobID := "job-" + ns
		body := mustJSON(t, map[string]any{
			"id": jobID, "cluster": id, "request_id": "req-" + ns,
			"operation":   map[string]string{"engine": "manifest", "type": "deploy"},
			"application": "nextcloud", "namespace": ns, "action": "apply", "timeout_seconds": 60,
			"manifests": []any{
				map[string]any{"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": map[string]any{"name": "podinfo"},
					"spec": map[string]any{"scaleTargetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
						"minReplicas": 2, "maxReplicas": 4}},
				map[string]any{"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": map[string]any{"name": "podinfo"},
					"spec": map[string]any{"minAvailable": 1, "selector": map[string]any{"matchLabels": map[string]string{"app": "podinfo"}}}},
			},
		})
		if r := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, body); r.status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", r.status, r.body)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			r := e.read(t, "/api/v1/jobs/"+jobID, acmeToken)
			st := r.json(t)["status"]
			if st == "succeeded" {
				break
			}
			if st == "failed" || time.Now().After(deadline) {
				t.Fatalf("job: %s", r.body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if _, err := kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "podinfo", metav1.GetOptions{}); err != nil {
			t.Errorf("HorizontalPodAutoscaler: %v", err)
		}
		if _, err := kube.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "podinfo", metav1.GetOptions{}); err != nil {
			t.Errorf("PodDisruptionBudget: %v", err)
		}
	})
}
