package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
)

// jobFixture registers a cluster (acme) allowed to deploy nextcloud into a
// managed namespace, with a credential, and returns a valid job body builder.
func jobFixture(t *testing.T, e *env) (ns string, job func(edit func(map[string]any)) []byte) {
	t.Helper()
	ns = "jobs-" + fleettest.RandomID()
	managedNamespace(t, e.cluster, ns, nil)
	rec := record(ns)
	rec["allowed_operations"] = []map[string]string{{"engine": "manifest", "type": "deploy"}}
	rec["accept_excess_rights"] = true // the kubeconfig below is the cluster's admin token
	if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", acmeSecret, mustJSON(t, rec)); r.status != http.StatusCreated {
		t.Fatalf("cluster: %d %s", r.status, r.body)
	}
	if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1/kubeconfig", acmeSecret, e.kubeconfig(t, e.cluster.AdminToken(), nil)); r.status != http.StatusOK {
		t.Fatalf("kubeconfig: %d %s", r.status, r.body)
	}
	seq := 0
	return ns, func(edit func(map[string]any)) []byte {
		seq++
		j := map[string]any{
			"id": "job-" + ns + "-" + string(rune('a'+seq)), "cluster": "acme-prod-1", "request_id": "req-" + ns,
			"operation":   map[string]string{"engine": "manifest", "type": "deploy"},
			"application": "nextcloud", "namespace": ns, "action": "apply", "timeout_seconds": 30,
			"manifests": []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "settings"}, "data": map[string]string{"k": "v"}}},
		}
		if edit != nil {
			edit(j)
		}
		return mustJSON(t, j)
	}
}

func withManifest(m map[string]any) func(map[string]any) {
	return func(j map[string]any) { j["manifests"] = []any{m} }
}

// TestJobRefusals sends one job per rule of the contract: each answers its
// status and code, and afterwards neither the database nor the cluster changed.
func TestJobRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		ns, job := jobFixture(t, e)
		cm := func(meta map[string]any) map[string]any {
			return map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": map[string]string{"k": "v"}}
		}
		tests := []struct {
			name   string
			secret string
			body   []byte
			status int
			code   string
		}{
			{"namespace not allowed", acmeSecret, job(func(j map[string]any) { j["namespace"] = "kube-system" }), 422, "namespace_not_allowed"},
			{"application not allowed", acmeSecret, job(func(j map[string]any) { j["application"] = "wordpress" }), 422, "application_not_allowed"},
			{"operation not allowed", acmeSecret, job(func(j map[string]any) { j["operation"] = map[string]string{"engine": "velero", "type": "backup"} }), 422, "operation_not_allowed"},
			{"kind not allowed", acmeSecret, job(withManifest(map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": map[string]any{"name": "r"}})), 422, "kind_not_allowed"},
			{"service account not allowed", acmeSecret, job(withManifest(map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "sa"}})), 422, "kind_not_allowed"},
			{"cluster-scoped object", acmeSecret, job(withManifest(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "evil"}})), 422, "cluster_scoped_object"},
			{"namespace mismatch", acmeSecret, job(withManifest(cm(map[string]any{"name": "x", "namespace": "default"}))), 422, "namespace_mismatch"},
			{"cluster-id mismatch", acmeSecret, job(withManifest(cm(map[string]any{"name": "x", "labels": map[string]string{"app.vworkspace.io/cluster-id": "acme-prod-2"}}))), 422, "cluster_id_mismatch"},
			{"service-account token Secret", acmeSecret, job(withManifest(map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
				"metadata": map[string]any{"name": "tok", "annotations": map[string]string{"kubernetes.io/service-account.name": "default"}}})), 422, "secret_type_not_allowed"},
			{"Service with externalIPs", acmeSecret, job(withManifest(map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "svc"},
				"spec": map[string]any{"ports": []any{map[string]any{"port": 80}}, "externalIPs": []string{"10.0.0.1"}}})), 422, "service_external_ips"},
			{"manifest without kind", acmeSecret, job(withManifest(map[string]any{"apiVersion": "v1", "metadata": map[string]any{"name": "s"},
				"stringData": map[string]string{"password": "canary-manifest-secret"}})), 400, "invalid_field"},
			{"unknown cluster", acmeSecret, job(func(j map[string]any) { j["cluster"] = "nope" }), 404, "not_found"},
			{"other organization", globexSecret, job(nil), 404, "not_found"},
			{"malformed JSON", acmeSecret, []byte(`{"id": "x",`), 400, "malformed_json"},
			{"bad id", acmeSecret, job(func(j map[string]any) { j["id"] = "no spaces allowed" }), 400, "invalid_field"},
			{"apply without manifests", acmeSecret, job(func(j map[string]any) { j["manifests"] = []any{} }), 400, "invalid_field"},
			{"oversized body", acmeSecret, job(func(j map[string]any) { j["request_id"] = strings.Repeat("r", 70<<10) }), 413, "body_too_large"},
			{"bad signature", "whsec_bm90LWNvbmZpZ3VyZWQ=", job(nil), 401, "bad_signature"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.write(t, http.MethodPost, "/api/v1/jobs", tt.secret, tt.body)
				if r.status != tt.status || r.code(t) != tt.code {
					t.Fatalf("got %d %s, want %d %s", r.status, r.body, tt.status, tt.code)
				}
				if strings.Contains(string(r.body), "canary-manifest-secret") {
					t.Fatalf("the answer quotes the manifest: %s", r.body)
				}
			})
		}
		old := job(nil)
		for _, ts := range []time.Time{time.Now().Add(-10 * time.Minute), time.Now().Add(10 * time.Minute)} {
			if r := e.signed(t, http.MethodPost, "/api/v1/jobs", acmeSecret, "msg-old-"+ts.String(), ts, old); r.status != 401 {
				t.Fatalf("timestamp %s: %d %s", ts, r.status, r.body)
			}
		}
		// No credentials: the same job on a cluster without a kubeconfig.
		rec := record(ns)
		if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-bare", acmeSecret, mustJSON(t, rec)); r.status != http.StatusCreated {
			t.Fatal(r.status)
		}
		if r := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, job(func(j map[string]any) { j["cluster"] = "acme-bare" })); r.status != 422 || r.code(t) != "no_credentials" {
			t.Fatalf("no credentials: %d %s", r.status, r.body)
		}

		if r := e.read(t, "/api/v1/jobs", acmeToken); !strings.Contains(string(r.body), `"items":[]`) {
			t.Fatalf("refused jobs were stored: %s", r.body)
		}
		time.Sleep(500 * time.Millisecond) // a wrongly queued job would have run by now
		if _, err := e.cluster.Admin(t).CoreV1().ConfigMaps(ns).Get(context.Background(), "settings", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("the cluster changed: %v", err)
		}
	})
}

// The same job serialised with another key order inside a manifest is a
// retry (200 with the job), not a reuse of its id (409).
func TestJobResubmittedInAnotherKeyOrder(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		ns, _ := jobFixture(t, e)
		job := func(manifest string) []byte {
			return []byte(`{"id":"job-order","cluster":"acme-prod-1","operation":{"engine":"manifest","type":"deploy"},"application":"nextcloud",` +
				`"namespace":"` + ns + `","action":"apply","manifests":[` + manifest + `]}`)
		}
		first := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, job(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1","b":"2"}}`))
		if first.status != http.StatusAccepted || first.header.Get("Location") != "/api/v1/jobs/job-order" {
			t.Fatalf("first: %d %s, Location %q", first.status, first.body, first.header.Get("Location"))
		}
		again := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, job(`{"kind":"ConfigMap","data":{"b":"2","a":"1"},"metadata":{"name":"c"},"apiVersion":"v1"}`))
		if again.status != http.StatusOK {
			t.Fatalf("same job, keys reordered: %d %s, want 200", again.status, again.body)
		}
		other := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, job(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1","b":"3"}}`))
		if other.status != http.StatusConflict || other.code(t) != "job_id_reused" {
			t.Fatalf("other content: %d %s, want 409", other.status, other.body)
		}
	})
}

// A record that requires Pod Security refuses jobs into a namespace that
// does not enforce it, and the probe shows each namespace's level.
func TestPodSecurityRequired(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		ns, job := jobFixture(t, e)
		rec := record(ns)
		rec["allowed_operations"] = []map[string]string{{"engine": "manifest", "type": "deploy"}}
		rec["require_pod_security"] = true
		rec["accept_excess_rights"] = true // the cluster's admin token, as in jobFixture
		if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", acmeSecret, mustJSON(t, rec)); r.status != http.StatusOK {
			t.Fatalf("record: %d %s", r.status, r.body)
		}
		r := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, job(nil))
		if r.status != http.StatusUnprocessableEntity || r.code(t) != "pod_security_not_enforced" {
			t.Fatalf("namespace without enforcement: %d %s", r.status, r.body)
		}
		kube := e.cluster.Admin(t)
		patch := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"restricted"}}}`)
		if _, err := kube.CoreV1().Namespaces().Patch(context.Background(), ns, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if r := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, job(nil)); r.status != http.StatusAccepted {
			t.Fatalf("namespace enforcing restricted: %d %s", r.status, r.body)
		}
		r = e.write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1/kubeconfig", acmeSecret, e.kubeconfig(t, e.cluster.AdminToken(), nil))
		nss, _ := r.json(t)["namespaces"].([]any)
		if len(nss) != 1 || nss[0].(map[string]any)["pod_security_enforce"] != "restricted" {
			t.Fatalf("probe: %s", r.body)
		}
		if got := e.read(t, "/api/v1/clusters/acme-prod-1", acmeToken).json(t)["require_pod_security"]; got != true {
			t.Fatalf("require_pod_security not kept: %v", got)
		}
	})
}

// TestJobAcceptedRunsAndIsIdempotent submits a signed job: 202 queued, a
// resubmission 200 with the same job, the same id with other content 409,
// and the job runs to succeeded, visible in the fleet views.
func TestJobAcceptedRunsAndIsIdempotent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		ns, job := jobFixture(t, e)
		body := job(nil)
		var spec map[string]any
		json.Unmarshal(body, &spec)
		id := spec["id"].(string)
		r := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, body)
		if r.status != http.StatusAccepted || r.json(t)["status"] != "queued" {
			t.Fatalf("submit: %d %s", r.status, r.body)
		}
		if r := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, body); r.status != http.StatusOK || r.json(t)["id"] != id {
			t.Fatalf("resubmit: %d %s", r.status, r.body)
		}
		spec["timeout_seconds"] = 60
		if r := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, mustJSON(t, spec)); r.status != http.StatusConflict || r.code(t) != "job_id_reused" {
			t.Fatalf("reuse: %d %s", r.status, r.body)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			r = e.read(t, "/api/v1/jobs/"+id, acmeToken)
			if st := r.json(t)["status"]; st == "succeeded" || st == "failed" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job did not finish: %s", r.body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got := r.json(t); got["status"] != "succeeded" || len(got["objects"].([]any)) != 1 {
			t.Fatalf("job: %s", r.body)
		}
		if r := e.read(t, "/api/v1/jobs/"+id, globexToken); r.status != http.StatusNotFound {
			t.Fatalf("other organization reads the job: %d", r.status)
		}
		if r := e.read(t, "/api/v1/requests/req-"+ns, acmeToken); r.status != 200 || r.json(t)["counts"].(map[string]any)["succeeded"] != float64(1) {
			t.Fatalf("request view: %d %s", r.status, r.body)
		}
		if r := e.read(t, "/api/v1/jobs?cluster=acme-prod-1&status=succeeded&limit=1", acmeToken); r.status != 200 || len(r.json(t)["items"].([]any)) != 1 {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		if r := e.read(t, "/api/v1/jobs?limit=0", acmeToken); r.status != 400 {
			t.Fatalf("bad limit: %d %s", r.status, r.body)
		}

		// Forgetting the cluster cancels what is still queued for it.
		hang := job(func(j map[string]any) {
			j["manifests"] = []any{map[string]any{"apiVersion": "vworkspace.io/v1alpha1", "kind": "Application",
				"metadata": map[string]any{"name": "slow", "annotations": map[string]string{outcomeAnnotation: "hang"}}, "spec": map[string]any{}}}
		})
		var hs map[string]any
		json.Unmarshal(hang, &hs)
		queued := job(nil)
		var qs map[string]any
		json.Unmarshal(queued, &qs)
		for _, b := range [][]byte{hang, queued} {
			if r := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, b); r.status != http.StatusAccepted {
				t.Fatalf("submit: %d %s", r.status, r.body)
			}
		}
		if r := e.write(t, http.MethodDelete, "/api/v1/clusters/acme-prod-1", acmeSecret, nil); r.status != http.StatusNoContent {
			t.Fatalf("delete cluster: %d %s", r.status, r.body)
		}
		for _, id := range []string{hs["id"].(string), qs["id"].(string)} {
			deadline := time.Now().Add(30 * time.Second)
			for {
				st := e.read(t, "/api/v1/jobs/"+id, acmeToken).json(t)["status"]
				if st == "cancelled" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("job %s of a forgotten cluster: %v", id, st)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	})
}

// waitFinal polls a job until it is final and returns its answer.
func (e *env) waitFinal(t *testing.T, id string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		j := e.read(t, "/api/v1/jobs/"+id, acmeToken).json(t)
		if st := j["status"]; st == "succeeded" || st == "failed" || st == "cancelled" {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s did not finish: %v", id, j)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRequestIsExact: a job of a request fails and is resubmitted under a
// new id; the fleet view shows the cluster once, with its newest job. A
// whole request is cancelled in one signed call; the empty request id
// cancels nothing.
func TestRequestIsExact(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		ns, job := jobFixture(t, e)
		bad := job(withManifest(map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c"}, "data": map[string]any{"n": 1}}))
		good := job(nil)
		var ids []string
		for _, b := range [][]byte{bad, good} {
			r := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, b)
			if r.status != http.StatusAccepted {
				t.Fatalf("submit: %d %s", r.status, r.body)
			}
			id := r.json(t)["id"].(string)
			ids = append(ids, id)
			e.waitFinal(t, id)
		}
		v := e.read(t, "/api/v1/requests/req-"+ns, acmeToken).json(t)
		counts := v["counts"].(map[string]any)
		entries := v["jobs"].([]any)
		if v["total"] != float64(1) || len(entries) != 1 || counts["succeeded"] != float64(1) || counts["failed"] != float64(0) ||
			entries[0].(map[string]any)["id"] != ids[1] {
			t.Fatalf("fleet view after a resubmission: %v", v)
		}

		hang := job(func(j map[string]any) {
			j["request_id"] = "stop-" + ns
			j["manifests"] = []any{map[string]any{"apiVersion": "vworkspace.io/v1alpha1", "kind": "Application",
				"metadata": map[string]any{"name": "slow", "annotations": map[string]string{outcomeAnnotation: "hang"}}, "spec": map[string]any{}}}
		})
		r := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, hang)
		if r.status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", r.status, r.body)
		}
		id := r.json(t)["id"].(string)
		// An empty request id is no request: nothing is cancelled (the
		// job listing's empty filter would match every job).
		if r := e.write(t, http.MethodPost, "/api/v1/requests//cancel", acmeSecret, nil); r.status != http.StatusNotFound {
			t.Fatalf("cancel the empty request: %d %s", r.status, r.body)
		}
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) { // a running job sees a cancel within a second
			if j := e.read(t, "/api/v1/jobs/"+id, acmeToken).json(t); j["status"] == "cancelled" {
				t.Fatalf("cancelling the empty request cancelled job %s of request stop-%s: %v", id, ns, j["cancellation"])
			}
		}
		r = e.write(t, http.MethodPost, "/api/v1/requests/stop-"+ns+"/cancel", acmeSecret, nil)
		if r.status != http.StatusOK && r.status != http.StatusAccepted {
			t.Fatalf("cancel request: %d %s", r.status, r.body)
		}
		if j := e.waitFinal(t, id); j["status"] != "cancelled" {
			t.Fatalf("job of the cancelled request: %v", j)
		}
		if r := e.write(t, http.MethodPost, "/api/v1/requests/nothing-"+ns+"/cancel", acmeSecret, nil); r.status != http.StatusNotFound {
			t.Fatalf("cancel an unknown request: %d %s", r.status, r.body)
		}
	})
}
