package api_test

import (
	"net/http"
	"testing"

	"github.com/vworkspace/pushd/internal/apitest"
	"github.com/vworkspace/pushd/internal/dbtest"
)

// A database outage is 503 database_unavailable with Retry-After (the caller
// retries), not 500 (pushd's own failure).
func TestDatabaseOutageIs503(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		if r := e.Write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", apitest.AcmeSecret, apitest.MustJSON(t, apitest.Record("nextcloud"))); r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		e.Store.Close()
		r := e.Read(t, "/api/v1/clusters", apitest.AcmeToken)
		if r.Status != http.StatusServiceUnavailable || r.Code(t) != "database_unavailable" || r.Header.Get("Retry-After") == "" {
			t.Fatalf("read during an outage: %d %s Retry-After %q", r.Status, r.Body, r.Header.Get("Retry-After"))
		}
		r = e.Write(t, http.MethodDelete, "/api/v1/clusters/acme-prod-1", apitest.AcmeSecret, nil)
		if r.Status != http.StatusServiceUnavailable || r.Code(t) != "database_unavailable" {
			t.Fatalf("write during an outage: %d %s", r.Status, r.Body)
		}
	})
}
