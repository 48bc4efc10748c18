package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/apitest"
	"github.com/vworkspace/pushd/internal/dbtest"
)

// TestApplicationEndpoints applies a job and reads the application back
// through the inventory endpoints; another organization sees nothing.
func TestApplicationEndpoints(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newClusterEnv(t, db)
		ns, job := apitest.JobFixture(t, e)
		body := job(nil)
		if r := e.Write(t, http.MethodPost, "/api/v1/jobs", apitest.AcmeSecret, body); r.Status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", r.Status, r.Body)
		}
		deadline := time.Now().Add(time.Minute)
		var apps []any
		for {
			r := e.Read(t, "/api/v1/clusters/acme-prod-1/applications", apitest.AcmeToken)
			if r.Status != http.StatusOK {
				t.Fatalf("applications: %d %s", r.Status, r.Body)
			}
			apps = r.JSON(t)["items"].([]any)
			if len(apps) == 1 && apps[0].(map[string]any)["health"] == "Current" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("application never listed as Current: %s", r.Body)
			}
			time.Sleep(200 * time.Millisecond)
		}
		app := apps[0].(map[string]any)
		if app["namespace"] != ns || app["application"] != "nextcloud" || app["objects"] != float64(1) {
			t.Fatalf("application: %v", app)
		}
		if r := e.Read(t, "/api/v1/clusters/acme-prod-1", apitest.AcmeToken); r.JSON(t)["applications"].(map[string]any)["total"] != float64(1) {
			t.Fatalf("cluster counts: %s", r.Body)
		}
		r := e.Read(t, "/api/v1/clusters/acme-prod-1/applications/"+ns+"/nextcloud", apitest.AcmeToken)
		if r.Status != http.StatusOK || len(r.JSON(t)["objects"].([]any)) != 1 {
			t.Fatalf("detail: %d %s", r.Status, r.Body)
		}
		if r := e.Read(t, "/api/v1/clusters/acme-prod-1/applications/"+ns+"/nope", apitest.AcmeToken); r.Status != http.StatusNotFound {
			t.Fatalf("unknown application: %d %s", r.Status, r.Body)
		}
		if r := e.Write(t, http.MethodPost, "/api/v1/clusters/acme-prod-1/drift-checks", apitest.AcmeSecret, nil); r.Status != http.StatusAccepted {
			t.Fatalf("drift check: %d %s", r.Status, r.Body)
		}
		for _, r := range []apitest.Response{
			e.Read(t, "/api/v1/clusters/acme-prod-1/applications", apitest.GlobexToken),
			e.Write(t, http.MethodPost, "/api/v1/clusters/acme-prod-1/drift-checks", apitest.GlobexSecret, nil),
		} {
			if r.Status != http.StatusNotFound {
				t.Fatalf("another organization: %d %s", r.Status, r.Body)
			}
		}
	})
}
