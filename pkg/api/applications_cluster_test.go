package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
)

// TestApplicationEndpoints applies a job and reads the application back
// through the inventory endpoints; another organization sees nothing.
func TestApplicationEndpoints(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newClusterEnv(t, db)
		ns, job := jobFixture(t, e)
		body := job(nil)
		var spec map[string]any
		json.Unmarshal(body, &spec)
		if r := e.write(t, http.MethodPost, "/api/v1/jobs", acmeSecret, body); r.status != http.StatusAccepted {
			t.Fatalf("submit: %d %s", r.status, r.body)
		}
		deadline := time.Now().Add(time.Minute)
		var apps []any
		for {
			r := e.read(t, "/api/v1/clusters/acme-prod-1/applications", acmeToken)
			if r.status != http.StatusOK {
				t.Fatalf("applications: %d %s", r.status, r.body)
			}
			apps = r.json(t)["items"].([]any)
			if len(apps) == 1 && apps[0].(map[string]any)["health"] == "Current" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("application never listed as Current: %s", r.body)
			}
			time.Sleep(200 * time.Millisecond)
		}
		app := apps[0].(map[string]any)
		if app["namespace"] != ns || app["application"] != "nextcloud" || app["objects"] != float64(1) {
			t.Fatalf("application: %v", app)
		}
		if r := e.read(t, "/api/v1/clusters/acme-prod-1", acmeToken); r.json(t)["applications"].(map[string]any)["total"] != float64(1) {
			t.Fatalf("cluster counts: %s", r.body)
		}
		r := e.read(t, "/api/v1/clusters/acme-prod-1/applications/"+ns+"/nextcloud", acmeToken)
		if r.status != http.StatusOK || len(r.json(t)["objects"].([]any)) != 1 {
			t.Fatalf("detail: %d %s", r.status, r.body)
		}
		if r := e.read(t, "/api/v1/clusters/acme-prod-1/applications/"+ns+"/nope", acmeToken); r.status != http.StatusNotFound {
			t.Fatalf("unknown application: %d %s", r.status, r.body)
		}
		if r := e.write(t, http.MethodPost, "/api/v1/clusters/acme-prod-1/drift-checks", acmeSecret, nil); r.status != http.StatusAccepted {
			t.Fatalf("drift check: %d %s", r.status, r.body)
		}
		for _, r := range []response{
			e.read(t, "/api/v1/clusters/acme-prod-1/applications", globexToken),
			e.write(t, http.MethodPost, "/api/v1/clusters/acme-prod-1/drift-checks", globexSecret, nil),
		} {
			if r.status != http.StatusNotFound {
				t.Fatalf("another organization: %d %s", r.status, r.body)
			}
		}
	})
}
