package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vworkspace/pushd/internal/apitest"
	"github.com/vworkspace/pushd/internal/dbtest"
)

// TestKubeconfigIntakeProbesAndNeverLeaks stores a working credential (probe:
// ready), then one the API server rejects, whose token is a canary that must
// appear in no answer and no log line.
func TestKubeconfigIntakeProbesAndNeverLeaks(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newClusterEnv(t, db)
		path := "/api/v1/clusters/acme-prod-1"
		if r := e.Write(t, http.MethodPut, path, apitest.AcmeSecret, apitest.MustJSON(t, apitest.Record("default", "missing-ns"))); r.Status != http.StatusCreated {
			t.Fatal(r.Status)
		}
		r := e.Write(t, http.MethodPut, path+"/kubeconfig", apitest.AcmeSecret, e.Kubeconfig(t, e.Cluster.AdminToken(), nil))
		if r.Status != http.StatusOK {
			t.Fatalf("kubeconfig: %d %s", r.Status, r.Body)
		}
		got := r.JSON(t)
		conn := got["connectivity"].(map[string]any)
		if conn["state"] != "ready" || got["server_version"] != bed.Binaries().KubernetesVersion {
			t.Fatalf("probe: %s", r.Body)
		}
		nss := got["namespaces"].([]any)
		if len(nss) != 2 {
			t.Fatalf("namespaces: %s", r.Body)
		}
		def, missing := nss[0].(map[string]any), nss[1].(map[string]any)
		if def["exists"] != true || def["labeled"] != false || def["rights_ok"] != true {
			t.Errorf("default namespace: %v", def)
		}
		if missing["exists"] != false {
			t.Errorf("missing namespace: %v", missing)
		}
		// An admin credential is exactly what pushd must flag.
		if ex := got["credential"].(map[string]any)["excess_rights"].([]any); len(ex) == 0 {
			t.Errorf("a cluster-admin credential must show excess rights: %s", r.Body)
		}
		if strings.Contains(string(r.Body), e.Cluster.AdminToken()) {
			t.Fatal("the answer contains the token")
		}

		canary := "canary-" + strings.Repeat("c0ffee", 8)
		r = e.Write(t, http.MethodPut, path+"/kubeconfig", apitest.AcmeSecret, e.Kubeconfig(t, canary, nil))
		if r.Status != http.StatusUnprocessableEntity || r.Code(t) != "kubeconfig_rejected" || !strings.Contains(string(r.Body), "unauthorized") {
			t.Fatalf("a token the cluster refuses must not replace a working one: %d %s", r.Status, r.Body)
		}
		if state := e.Read(t, path, apitest.AcmeToken).JSON(t)["connectivity"].(map[string]any)["state"]; state != "ready" {
			t.Fatalf("the working credential was not kept: state %v", state)
		}
		answers := [][]byte{r.Body, e.Read(t, path, apitest.AcmeToken).Body, e.Read(t, "/api/v1/clusters", apitest.AcmeToken).Body}
		for i, b := range answers {
			if strings.Contains(string(b), canary) {
				t.Errorf("answer %d contains the token: %s", i, b)
			}
		}
		if strings.Contains(e.Logs.String(), canary) || strings.Contains(e.Logs.String(), e.Cluster.AdminToken()) {
			t.Errorf("a token reached the debug log:\n%s", e.Logs.String())
		}
	})
}
