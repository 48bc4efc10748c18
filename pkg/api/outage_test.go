package api_test

import (
	"net/http"
	"testing"

	"github.com/vworkspace/pushd/internal/dbtest"
)

// A database outage is 503 database_unavailable with Retry-After (the caller
// retries), not 500 (pushd's own failure).
func TestDatabaseOutageIs503(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-prod-1", acmeSecret, mustJSON(t, record("nextcloud"))); r.status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		e.store.Close()
		r := e.read(t, "/api/v1/clusters", acmeToken)
		if r.status != http.StatusServiceUnavailable || r.code(t) != "database_unavailable" || r.header.Get("Retry-After") == "" {
			t.Fatalf("read during an outage: %d %s Retry-After %q", r.status, r.body, r.header.Get("Retry-After"))
		}
		r = e.write(t, http.MethodDelete, "/api/v1/clusters/acme-prod-1", acmeSecret, nil)
		if r.status != http.StatusServiceUnavailable || r.code(t) != "database_unavailable" {
			t.Fatalf("write during an outage: %d %s", r.status, r.body)
		}
	})
}
