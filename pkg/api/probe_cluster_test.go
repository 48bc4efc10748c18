package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/vworkspace/pushd/internal/dbtest"
)

// TestKubeconfigIntakeProbesAndNeverLeaks stores a working credential (probe:
// ready), then one the API server rejects, whose token is a canary that must
// appear in no answer and no log line.
func TestKubeconfigIntakeProbesAndNeverLeaks(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newClusterEnv(t, db)
		path := "/api/v1/clusters/acme-prod-1"
		if r := e.write(t, http.MethodPut, path, acmeSecret, mustJSON(t, record("default", "missing-ns"))); r.status != http.StatusCreated {
			t.Fatal(r.status)
		}
		r := e.write(t, http.MethodPut, path+"/kubeconfig", acmeSecret, e.kubeconfig(t, e.cluster.AdminToken(), nil))
		if r.status != http.StatusOK {
			t.Fatalf("kubeconfig: %d %s", r.status, r.body)
		}
		got := r.json(t)
		conn := got["connectivity"].(map[string]any)
		if conn["state"] != "ready" || got["server_version"] != bed.Binaries().KubernetesVersion {
			t.Fatalf("probe: %s", r.body)
		}
		nss := got["namespaces"].([]any)
		if len(nss) != 2 {
			t.Fatalf("namespaces: %s", r.body)
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
			t.Errorf("a cluster-admin credential must show excess rights: %s", r.body)
		}
		if strings.Contains(string(r.body), e.cluster.AdminToken()) {
			t.Fatal("the answer contains the token")
		}

		canary := "canary-" + strings.Repeat("c0ffee", 8)
		r = e.write(t, http.MethodPut, path+"/kubeconfig", acmeSecret, e.kubeconfig(t, canary, nil))
		if r.status != http.StatusUnprocessableEntity || r.code(t) != "kubeconfig_rejected" || !strings.Contains(string(r.body), "unauthorized") {
			t.Fatalf("a token the cluster refuses must not replace a working one: %d %s", r.status, r.body)
		}
		if state := e.read(t, path, acmeToken).json(t)["connectivity"].(map[string]any)["state"]; state != "ready" {
			t.Fatalf("the working credential was not kept: state %v", state)
		}
		answers := [][]byte{r.body, e.read(t, path, acmeToken).body, e.read(t, "/api/v1/clusters", acmeToken).body}
		for i, b := range answers {
			if strings.Contains(string(b), canary) {
				t.Errorf("answer %d contains the token: %s", i, b)
			}
		}
		if strings.Contains(e.logs.String(), canary) || strings.Contains(e.logs.String(), e.cluster.AdminToken()) {
			t.Errorf("a token reached the debug log:\n%s", e.logs.String())
		}
	})
}
