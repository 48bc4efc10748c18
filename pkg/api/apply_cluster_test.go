package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/clusters/bootstrap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
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
		if r := e.write(t, http.MethodPut, "/api/v1/clusters/"+id+"/kubeconfig", acmeSecret, e.kubeconfig(t, boot.Credential.Token, nil)); r.status != http.StatusOK {
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
