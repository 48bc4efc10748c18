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

	"github.com/vworkspace/pushd/internal/apitest"
	"github.com/vworkspace/pushd/internal/dbtest"
)

func withManifest(m map[string]any) func(map[string]any) {
	return func(j map[string]any) { j["manifests"] = []any{m} }
}

// TestJobRefusals sends one job per rule of the contract: each answers its
// status and code, and afterwards neither the database nor the cluster changed.
func TestJobRefusals(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		ns, job := apitest.JobFixture(t, e)
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
			{"namespace not allowed", apitest.AcmeSecret, job(func(j map[string]any) { j["namespace"] = "kube-system" }), 422, "namespace_not_allowed"},
			{"application not allowed", apitest.AcmeSecret, job(func(j map[string]any) { j["application"] = "wordpress" }), 422, "application_not_allowed"},
			{"operation not allowed", apitest.AcmeSecret, job(func(j map[string]any) { j["operation"] = map[string]string{"engine": "velero", "type": "backup"} }), 422, "operation_not_allowed"},
			{"kind not allowed", apitest.AcmeSecret, job(withManifest(map[string]any{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": map[string]any{"name": "r"}})), 422, "kind_not_allowed"},
			{"service account not allowed", apitest.AcmeSecret, job(withManifest(map[string]any{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": map[string]any{"name": "sa"}})), 422, "kind_not_allowed"},
			{"cluster-scoped object", apitest.AcmeSecret, job(withManifest(map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "evil"}})), 422, "cluster_scoped_object"},
			{"namespace mismatch", apitest.AcmeSecret, job(withManifest(cm(map[string]any{"name": "x", "namespace": "default"}))), 422, "namespace_mismatch"},
			{"cluster-id mismatch", apitest.AcmeSecret, job(withManifest(cm(map[string]any{"name": "x", "labels": map[string]string{"app.vworkspace.io/cluster-id": "acme-prod-2"}}))), 422, "cluster_id_mismatch"},
			{"service-account token Secret", apitest.AcmeSecret, job(withManifest(map[string]any{"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
				"metadata": map[string]any{"name": "tok", "annotations": map[string]string{"kubernetes.io/service-account.name": "default"}}})), 422, "secret_type_not_allowed"},
			{"Service with externalIPs", apitest.AcmeSecret, job(withManifest(map[string]any{"apiVersion": "v1", "kind": "Service", "metadata": map[string]any{"name": "svc"},
				"spec": map[string]any{"ports": []any{map[string]any{"port": 80}}, "externalIPs": []string{"10.0.0.1"}}})), 422, "service_external_ips"},
			{"manifest without kind", apitest.AcmeSecret, job(withManifest(map[string]any{"apiVersion": "v1", "metadata": map[string]any{"name": "s"},
				"stringData": map[string]string{"password": "canary-manifest-secret"}})), 400, "invalid_field"},
			{"unknown cluster", apitest.AcmeSecret, job(func(j map[string]any) { j["cluster"] = "nope" }), 404, "not_found"},
			{"other organization", apitest.GlobexSecret, job(nil), 404, "not_found"},
			{"malformed JSON", apitest.AcmeSecret, []byte(`{"id": "x",`), 400, "malformed_json"},
			{"bad id", apitest.AcmeSecret, job(func(j map[string]any) { j["id"] = "no spaces allowed" }), 400, "invalid_field"},
			{"apply without manifests", apitest.AcmeSecret, job(func(j map[string]any) { j["manifests"] = []any{} }), 400, "invalid_field"},
			{"oversized body", apitest.AcmeSecret, job(func(j map[string]any) { j["request_id"] = strings.Repeat("r", 70<<10) }), 413, "body_too_large"},
			{"bad signature", "whsec_bm90LWNvbmZpZ3VyZWQ=", job(nil), 401, "bad_signature"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.Write(t, http.MethodPost, "/api/v1/jobs", tt.secret, tt.body)
				if r.Status != tt.status || r.Code(t) != tt.code {
					t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, tt.status, tt.code)
				}
				if strings.Contains(string(r.Body), "canary-manifest-secret") {
					t.Fatalf("the answer quotes the manifest: %s", r.Body)
				}
			})
		}
		old := job(nil)
		for _, ts := range []time.Time{time.Now().Add(-10 * time.Minute), time.Now().Add(10 * time.Minute)} {
			if r := e.Signed(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, "msg-old-"+ts.String(), ts, old); r.Status != 401 {
				t.Fatalf("timestamp %s: %d %s", ts, r.Status, r.Body)
			}
		}
		// No credentials: the same job on a cluster without a kubeconfig.
		rec := apitest.Record(ns)
		if r := e.Write(t, http.MethodPut, "/api/v1/clusters/acme-bare", apitest.AcmeSecret, apitest.MustJSON(t, rec)); r.Status != http.StatusCreated {
			t.Fatal(r.Status)
		}
		if r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, job(func(j map[string]any) { j["cluster"] = "acme-bare" })); r.Status != 422 || r.Code(t) != "no_credentials" {
			t.Fatalf("no credentials: %d %s", r.Status, r.Body)
		}

		if r := e.Read(t, "/api/v1/jobs", apitest.AcmeToken); !strings.Contains(string(r.Body), `"items":[]`) {
			t.Fatalf("refused jobs were stored: %s", r.Body)
		}
		time.Sleep(500 * time.Millisecond) // a wrongly queued job would have run by now
		if _, err := e.Cluster.Admin(t).CoreV1().ConfigMaps(ns).Get(context.Background(), "settings", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("the cluster changed: %v", err)
		}
	})
}

// The same job serialised with another key order inside a manifest is a
// retry (200 with the job), not a reuse of its id (409).
func TestJobResubmittedInAnotherKeyOrder(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		ns, _ := apitest.JobFixture(t, e)
		job := func(manifest string) []byte {
			return []byte(`{"id":"job-order","cluster":"acme-prod-1","operation":{"engine":"manifest","type":"deploy"},"application":"nextcloud",` +
				`"namespace":"` + ns + `","action":"apply","manifests":[` + manifest + `]}`)
		}
		first := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, job(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1","b":"2"}}`))
		if first.Status != http.StatusAccepted || first.Header.Get("Location") != "/api/v1/jobs/job-order" {
			t.Fatalf("first: %d %s, Location %q", first.Status, first.Body, first.Header.Get("Location"))
		}
		again := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, job(`{"kind":"ConfigMap","data":{"b":"2","a":"1"},"metadata":{"name":"c"},"apiVersion":"v1"}`))
		if again.Status != http.StatusOK {
			t.Fatalf("same job, keys reordered: %d %s, want 200", again.Status, again.Body)
		}
		other := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, job(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"1","b":"3"}}`))
		if other.Status != http.StatusConflict || other.Code(t) != "job_id_reused" {
			t.Fatalf("other content: %d %s, want 409", other.Status, other.Body)
		}
	})
}

// A record that requires Pod Security refuses jobs into a namespace that
// does not enforce it, and the probe shows each namespace's level.
func TestPodSecurityRequired(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		ns, job := apitest.JobFixture(t, e)
		rec := apitest.Record(ns)
		rec["allowed_operations"] = []map[string]string{{"engine": "manifest", "type": "deploy"}}
		rec["require_pod_security"] = true
		rec["accept_excess_rights"] = true // the cluster's admin token, as in apitest.JobFixture
		if r := e.Write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", apitest.AcmeSecret, apitest.MustJSON(t, rec)); r.Status != http.StatusOK {
			t.Fatalf("record: %d %s", r.Status, r.Body)
		}
		r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, job(nil))
		if r.Status != http.StatusUnprocessableEntity || r.Code(t) != "pod_security_not_enforced" {
			t.Fatalf("namespace without enforcement: %d %s", r.Status, r.Body)
		}
		kube := e.Cluster.Admin(t)
		patch := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"restricted"}}}`)
		if _, err := kube.CoreV1().Namespaces().Patch(context.Background(), ns, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, job(nil)); r.Status != http.StatusAccepted {
			t.Fatalf("namespace enforcing restricted: %d %s", r.Status, r.Body)
		}
		r = e.Write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1/kubeconfig", apitest.AcmeSecret, e.Kubeconfig(t, e.Cluster.AdminToken(), nil))
		nss, _ := r.JSON(t)["namespaces"].([]any)
		if len(nss) != 1 || nss[0].(map[string]any)["pod_security_enforce"] != "restricted" {
			t.Fatalf("probe: %s", r.Body)
		}
		if got := e.Read(t, "/api/v1/clusters/acme-prod-1", apitest.AcmeToken).JSON(t)["require_pod_security"]; got != true {
			t.Fatalf("require_pod_security not kept: %v", got)
		}
	})
}

// TestJobAcceptedRunsAndIsIdempotent submits a signed job: 202 queued, a
// resubmission 200 with the same job, the same id with other content 409,
// and the job runs to succeeded, visible in the fleet views.
func TestJobAcceptedRunsAndIsIdempotent(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		ns, job := apitest.JobFixture(t, e)
		body := job(nil)
		var spec map[string]any
		json.Unmarshal(body, &spec)
		id := spec["id"].(string)
		r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, body)
		if r.Status != http.StatusAccepted || r.JSON(t)["status"] != "queued" {
			t.Fatalf("submit: %d %s", r.Status, r.Body)
		}
		if r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, body); r.Status != http.StatusOK || r.JSON(t)["id"] != id {
			t.Fatalf("resubmit: %d %s", r.Status, r.Body)
		}
		spec["timeout_seconds"] = 60
		if r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, apitest.MustJSON(t, spec)); r.Status != http.StatusConflict || r.Code(t) != "job_id_reused" {
			t.Fatalf("reuse: %d %s", r.Status, r.Body)
		}
		deadline := time.Now().Add(time.Minute)
		for {
			r = e.Read(t, "/api/v1/jobs/"+id, apitest.AcmeToken)
			if st := r.JSON(t)["status"]; st == "succeeded" || st == "failed" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job did not finish: %s", r.Body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if got := r.JSON(t); got["status"] != "succeeded" || len(got["objects"].([]any)) != 1 {
			t.Fatalf("job: %s", r.Body)
		}
		if r := e.Read(t, "/api/v1/jobs/"+id, apitest.GlobexToken); r.Status != http.StatusNotFound {
			t.Fatalf("other organization reads the job: %d", r.Status)
		}
		if r := e.Read(t, "/api/v1/requests/req-"+ns, apitest.AcmeToken); r.Status != 200 || r.JSON(t)["counts"].(map[string]any)["succeeded"] != float64(1) {
			t.Fatalf("request view: %d %s", r.Status, r.Body)
		}
		if r := e.Read(t, "/api/v1/jobs?cluster=acme-prod-1&status=succeeded&limit=1", apitest.AcmeToken); r.Status != 200 || len(r.JSON(t)["items"].([]any)) != 1 {
			t.Fatalf("list: %d %s", r.Status, r.Body)
		}
		if r := e.Read(t, "/api/v1/jobs?limit=0", apitest.AcmeToken); r.Status != 400 {
			t.Fatalf("bad limit: %d %s", r.Status, r.Body)
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
			if r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, b); r.Status != http.StatusAccepted {
				t.Fatalf("submit: %d %s", r.Status, r.Body)
			}
		}
		if r := e.Write(t, http.MethodDelete, "/api/v1/clusters/acme-prod-1", apitest.AcmeSecret, nil); r.Status != http.StatusNoContent {
			t.Fatalf("delete cluster: %d %s", r.Status, r.Body)
		}
		for _, id := range []string{hs["id"].(string), qs["id"].(string)} {
			deadline := time.Now().Add(30 * time.Second)
			for {
				st := e.Read(t, "/api/v1/jobs/"+id, apitest.AcmeToken).JSON(t)["status"]
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

// TestRequestIsExact: a job of a request fails and is resubmitted under a
// new id; the fleet view shows the cluster once, with its newest job. A
// whole request is cancelled in one signed call; the empty request id
// cancels nothing.
func TestRequestIsExact(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		ns, job := apitest.JobFixture(t, e)
		bad := job(withManifest(map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "c"}, "data": map[string]any{"n": 1}}))
		good := job(nil)
		var ids []string
		for _, b := range [][]byte{bad, good} {
			r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, b)
			if r.Status != http.StatusAccepted {
				t.Fatalf("submit: %d %s", r.Status, r.Body)
			}
			id := r.JSON(t)["id"].(string)
			ids = append(ids, id)
			e.WaitFinal(t, id)
		}
		v := e.Read(t, "/api/v1/requests/req-"+ns, apitest.AcmeToken).JSON(t)
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
		r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, hang)
		if r.Status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", r.Status, r.Body)
		}
		id := r.JSON(t)["id"].(string)
		// An empty request id is no request: nothing is cancelled (the
		// job listing's empty filter would match every job).
		if r := e.Write(t, http.MethodPost, "/api/v1/requests//cancel", apitest.AcmeSecret, nil); r.Status != http.StatusNotFound {
			t.Fatalf("cancel the empty request: %d %s", r.Status, r.Body)
		}
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) { // a running job sees a cancel within a second
			if j := e.Read(t, "/api/v1/jobs/"+id, apitest.AcmeToken).JSON(t); j["status"] == "cancelled" {
				t.Fatalf("cancelling the empty request cancelled job %s of request stop-%s: %v", id, ns, j["cancellation"])
			}
		}
		r = e.Write(t, http.MethodPost, "/api/v1/requests/stop-"+ns+"/cancel", apitest.AcmeSecret, nil)
		if r.Status != http.StatusOK && r.Status != http.StatusAccepted {
			t.Fatalf("cancel request: %d %s", r.Status, r.Body)
		}
		if j := e.WaitFinal(t, id); j["status"] != "cancelled" {
			t.Fatalf("job of the cancelled request: %v", j)
		}
		if r := e.Write(t, http.MethodPost, "/api/v1/requests/nothing-"+ns+"/cancel", apitest.AcmeSecret, nil); r.Status != http.StatusNotFound {
			t.Fatalf("cancel an unknown request: %d %s", r.Status, r.Body)
		}
	})
}
