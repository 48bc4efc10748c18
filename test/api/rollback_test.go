package api

import (
	"context"
	"net/http"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vworkspace/pushd/internal/apitest"
	"github.com/vworkspace/pushd/internal/dbtest"
)

// TestRollbackAndHistory: three applies (v1 with one ConfigMap, v2 with
// two, v3 with three); a rollback to v1 runs as an apply of v1's manifests
// as pushd retained them, prunes what v2 and v3 added, becomes the drift
// reference and is in sync against it; the history lists every job newest
// first with its digest (v1's and the rollback's are one) and its source.
// A rollback to a job no longer retained, to another application's job or
// to a delete is refused and stores nothing.
func TestRollbackAndHistory(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		ctx := context.Background()
		e := newClusterEnv(t, db)
		ns, job := apitest.JobFixture(t, e)
		cm := func(name, v string) map[string]any {
			return map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": name}, "data": map[string]string{"v": v}}
		}
		versions := [][]any{{cm("settings", "1")}, {cm("settings", "2"), cm("extra-2", "2")}, {cm("settings", "3"), cm("extra-2", "3"), cm("extra-3", "3")}}
		var ids []string
		for i, manifests := range versions {
			body := job(func(j map[string]any) { j["manifests"] = manifests; delete(j, "request_id") })
			r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, body)
			if r.Status != http.StatusAccepted {
				t.Fatalf("v%d: %d %s", i+1, r.Status, r.Body)
			}
			id := r.JSON(t)["id"].(string)
			if j := e.WaitFinal(t, id); j["status"] != "succeeded" {
				t.Fatalf("v%d: %v", i+1, j)
			}
			ids = append(ids, id)
		}

		rollback := func(to string, edit func(map[string]any)) apitest.Response {
			return e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, job(func(j map[string]any) {
				j["action"], j["rollback_to"], j["id"] = "rollback", to, "rb-"+to
				delete(j, "manifests")
				if edit != nil {
					edit(j)
				}
			}))
		}
		r := rollback(ids[0], nil)
		if r.Status != http.StatusAccepted {
			t.Fatalf("rollback: %d %s", r.Status, r.Body)
		}
		rb := r.JSON(t)
		if rb["action"] != "apply" || rb["trigger"] != "rollback" || rb["source_job"] != ids[0] {
			t.Fatalf("rollback job: %s", r.Body)
		}
		if j := e.WaitFinal(t, rb["id"].(string)); j["status"] != "succeeded" {
			t.Fatalf("rollback: %v", j)
		}
		kube := e.Cluster.Admin(t).CoreV1().ConfigMaps(ns)
		if got, err := kube.Get(ctx, "settings", metav1.GetOptions{}); err != nil || got.Data["v"] != "1" {
			t.Fatalf("settings after the rollback: %v %v", got.Data, err)
		}
		for _, gone := range []string{"extra-2", "extra-3"} {
			if _, err := kube.Get(ctx, gone, metav1.GetOptions{}); err == nil {
				t.Errorf("%s, added after v1, was not pruned", gone)
			}
		}

		// The rollback is the drift reference, and the application is in sync against it.
		if r := e.Write(t, http.MethodPost, "/api/v1/clusters/acme-prod-1/drift-checks", apitest.AcmeSecret, nil); r.Status != http.StatusAccepted {
			t.Fatalf("drift check: %d %s", r.Status, r.Body)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			app := e.Read(t, "/api/v1/clusters/acme-prod-1/applications/"+ns+"/nextcloud", apitest.AcmeToken).JSON(t)
			ref, _ := app["reference_job"].(map[string]any)
			if app["drift"] == "in_sync" && ref != nil && ref["id"] == rb["id"] {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the rollback: drift %v against %v", app["drift"], app["reference_job"])
			}
		}

		h := e.Read(t, "/api/v1/clusters/acme-prod-1/applications/"+ns+"/nextcloud/history?limit=2", apitest.AcmeToken)
		if h.Status != http.StatusOK {
			t.Fatalf("history: %d %s", h.Status, h.Body)
		}
		page := h.JSON(t)
		items := page["items"].([]any)
		next, _ := page["next_cursor"].(string)
		if len(items) != 2 || next == "" {
			t.Fatalf("first page: %s", h.Body)
		}
		more := e.Read(t, "/api/v1/clusters/acme-prod-1/applications/"+ns+"/nextcloud/history?limit=2&cursor="+next, apitest.AcmeToken).JSON(t)
		items = append(items, more["items"].([]any)...)
		var order []string
		digest := map[string]string{}
		for _, it := range items {
			m := it.(map[string]any)
			order = append(order, m["id"].(string))
			digest[m["id"].(string)], _ = m["manifest_digest"].(string)
			if m["manifests_retained"] != true || m["intent"] != true {
				t.Errorf("history entry %v", m)
			}
		}
		want := []string{rb["id"].(string), ids[2], ids[1], ids[0]}
		if len(order) != 4 || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] || order[3] != want[3] {
			t.Errorf("history %v, want %v", order, want)
		}
		if digest[rb["id"].(string)] == "" || digest[rb["id"].(string)] != digest[ids[0]] || digest[ids[0]] == digest[ids[1]] {
			t.Errorf("digests %v: the rollback's is v1's, v2's another", digest)
		}

		// Refusals: nothing is stored for them.
		if r := rollback("job-never-was", nil); r.Status != http.StatusUnprocessableEntity || r.Code(t) != "manifests_expired" {
			t.Errorf("rollback to a job not retained: %d %s", r.Status, r.Body)
		}
		if r := rollback(ids[1], func(j map[string]any) { j["application"] = "mattermost" }); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("rollback of another application: %d %s", r.Status, r.Body)
		}
		del := job(func(j map[string]any) { j["action"], j["id"] = "delete", "del-"+ns; delete(j, "manifests") })
		if r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, del); r.Status != http.StatusAccepted {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		e.WaitFinal(t, "del-"+ns)
		if r := rollback("del-"+ns, nil); r.Status != http.StatusUnprocessableEntity || r.Code(t) != "rollback_source_mismatch" {
			t.Errorf("rollback to a delete: %d %s", r.Status, r.Body)
		}
		if r := e.Read(t, "/api/v1/jobs/rb-job-never-was", apitest.AcmeToken); r.Status != http.StatusNotFound {
			t.Errorf("a refused rollback was stored: %d", r.Status)
		}
	})
}
