package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/vworkspace/pushd/internal/apitest"
	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/clusters/bootstrap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestAutoscalerAndBudgetApplyWithBootstrappedCredential: a job with a
// HorizontalPodAutoscaler and a PodDisruptionBudget (podinfo's base ships
// both) is accepted by default and applied with the least-privilege
// credential bootstrap mints, which the probe finds neither short of
// rights nor over-privileged.
func TestAutoscalerAndBudgetApplyWithBootstrappedCredential(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newClusterEnv(t, db)
		c := bed.Clusters()[0]
		ctx := context.Background()
		kube := fleettest.AdminClient(t, c)
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
		rec := apitest.Record(ns)
		if r := e.Write(t, http.MethodPut, "/api/v1/clusters/"+id, apitest.AcmeSecret, apitest.MustJSON(t, rec)); r.Status != http.StatusCreated {
			t.Fatalf("cluster: %d %s", r.Status, r.Body)
		}
		if r := e.Write(t, http.MethodPut, "/api/v1/clusters/"+id+"/kubeconfig", apitest.AcmeSecret, e.Kubeconfig(t, boot.Credential.Token, nil)); r.Status != http.StatusOK {
			t.Fatalf("kubeconfig: %d %s", r.Status, r.Body)
		}
		if r := e.Read(t, "/api/v1/clusters/"+id, apitest.AcmeToken); !strings.Contains(string(r.Body), `"rights_ok":true`) || !strings.Contains(string(r.Body), `"missing_rights":[]`) {
			t.Errorf("the probe finds the bootstrapped rights short: %s", r.Body)
		}
		jobID := "job-" + ns
		body := apitest.MustJSON(t, map[string]any{
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
		if r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, body); r.Status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", r.Status, r.Body)
		}
		if j := e.WaitFinal(t, jobID); j["status"] != "succeeded" {
			t.Fatalf("job: %v", j)
		}
		if _, err := kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "podinfo", metav1.GetOptions{}); err != nil {
			t.Errorf("HorizontalPodAutoscaler: %v", err)
		}
		if _, err := kube.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "podinfo", metav1.GetOptions{}); err != nil {
			t.Errorf("PodDisruptionBudget: %v", err)
		}
	})
}
