package api_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/vworkspace/pushd/internal/apitest"
	"github.com/vworkspace/pushd/internal/dbtest"
)

// TestRequestShowsEveryJob: one request, three jobs — two applications on
// one cluster and one on another. The fleet view has one entry per job,
// its counts add up to three, and the same job id sent again (Odoo's retry
// of the same content) is the same job, not a fourth entry. The UI's
// request page shows the same three jobs.
func TestRequestShowsEveryJob(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		ns, job := apitest.JobFixture(t, e)
		rid := "req-" + ns
		rec := apitest.Record(ns)
		rec["allowed_applications"] = []string{"nextcloud", "wiki", "forum"}
		rec["accept_excess_rights"] = true // the cluster's admin token
		if r := e.Write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", apitest.AcmeSecret, apitest.MustJSON(t, rec)); r.Status != http.StatusOK {
			t.Fatalf("acme-prod-1: %d %s", r.Status, r.Body)
		}
		for _, r := range []apitest.Response{
			e.Write(t, http.MethodPut, "/api/v1/clusters/acme-prod-2", apitest.AcmeSecret, apitest.MustJSON(t, rec)),
			e.Write(t, http.MethodPut, "/api/v1/clusters/acme-prod-2/kubeconfig", apitest.AcmeSecret, e.Kubeconfig(t, e.Cluster.AdminToken(), nil)),
		} {
			if r.Status != http.StatusCreated && r.Status != http.StatusOK {
				t.Fatalf("acme-prod-2: %d %s", r.Status, r.Body)
			}
		}

		// Each application writes a ConfigMap of its own name: no object is
		// in two inventories.
		on := func(cluster, app string) []byte {
			return job(func(j map[string]any) {
				j["id"] = "job-" + ns + "-" + cluster + "-" + app
				j["cluster"], j["application"] = cluster, app
				j["manifests"] = []any{map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": app}, "data": map[string]string{"k": "v"}}}
			})
		}
		bodies := [][]byte{on("acme-prod-1", "nextcloud"), on("acme-prod-1", "wiki"), on("acme-prod-2", "forum")}
		var ids []string
		for _, b := range bodies {
			r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, b)
			if r.Status != http.StatusAccepted {
				t.Fatalf("submit: %d %s", r.Status, r.Body)
			}
			ids = append(ids, r.JSON(t)["id"].(string))
		}
		if r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, bodies[1]); r.Status != http.StatusOK || r.JSON(t)["id"] != ids[1] {
			t.Fatalf("the same job again: %d %s", r.Status, r.Body)
		}
		for _, id := range ids {
			if j := e.WaitFinal(t, id); j["status"] != "succeeded" {
				t.Fatalf("job %s: %v", id, j)
			}
		}

		r := e.Read(t, "/api/v1/requests/"+rid, apitest.AcmeToken)
		if r.Status != http.StatusOK {
			t.Fatalf("request: %d %s", r.Status, r.Body)
		}
		var v struct {
			Total  int            `json:"total"`
			Counts map[string]int `json:"counts"`
			Jobs   []struct {
				ID, Cluster, Namespace, Application, Status string
			} `json:"jobs"`
		}
		if err := json.Unmarshal(r.Body, &v); err != nil {
			t.Fatal(err)
		}
		sum := 0
		for _, n := range v.Counts {
			sum += n
		}
		var got []string
		for _, j := range v.Jobs {
			got = append(got, j.Cluster+"/"+j.Namespace+"/"+j.Application+"="+j.ID)
		}
		want := []string{ // ordered by cluster, then namespace and application
			"acme-prod-1/" + ns + "/nextcloud=" + ids[0],
			"acme-prod-1/" + ns + "/wiki=" + ids[1],
			"acme-prod-2/" + ns + "/forum=" + ids[2],
		}
		if v.Total != 3 || sum != 3 || v.Counts["succeeded"] != 3 || !slices.Equal(got, want) {
			t.Fatalf("request view: total %d, counts %v, entries %q; want 3 entries %q:\n%s", v.Total, v.Counts, got, want, r.Body)
		}

		// The UI's request page lists the same three jobs and counts them.
		ui := newUIClient(t, e)
		ui.login(t, apitest.AcmeToken)
		page := ui.get(t, "/ui/requests/"+rid)
		if page.Status != http.StatusOK {
			t.Fatalf("request page: %d %s", page.Status, page.Body)
		}
		html := string(page.Body)
		for _, id := range ids {
			if !strings.Contains(html, `href="/ui/jobs/`+id+`"`) {
				t.Errorf("the request page does not list job %s", id)
			}
		}
		if !strings.Contains(html, "3 jobs") || !strings.Contains(html, "3 succeeded") {
			t.Errorf("the request page does not count 3 jobs, 3 succeeded:\n%s", html)
		}
	})
}
