package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/pkg/store"
)

// TestClusterIDsRevealNoOtherOrganization: with two organizations, creating
// an id answers the same whether another organization holds it or nobody
// does, for ids in another organization's space and for ids in none.
func TestClusterIDsRevealNoOtherOrganization(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		if r := e.write(t, http.MethodPut, "/api/v1/clusters/globex-shared", globexSecret, mustJSON(t, record("wiki"))); r.status != http.StatusCreated {
			t.Fatalf("globex creates in its own space: %d %s", r.status, r.body)
		}
		// A record from before the partition: its id is in no one's space.
		if _, err := e.store.PutCluster(context.Background(), &store.Cluster{ID: "legacy-1", Organization: "globex"}); err != nil {
			t.Fatal(err)
		}
		for _, pair := range [][2]string{{"globex-shared", "globex-free"}, {"legacy-1", "legacy-2"}} {
			held := e.write(t, http.MethodPut, "/api/v1/clusters/"+pair[0], acmeSecret, mustJSON(t, record("wiki")))
			free := e.write(t, http.MethodPut, "/api/v1/clusters/"+pair[1], acmeSecret, mustJSON(t, record("wiki")))
			if held.status != free.status || held.code(t) != free.code(t) || string(held.body) != string(free.body) {
				t.Errorf("held %s: %d %s; free %s: %d %s", pair[0], held.status, held.body, pair[1], free.status, free.body)
			}
			if free.status != http.StatusUnprocessableEntity || free.code(t) != "cluster_id_outside_organization" {
				t.Errorf("acme creates %s: %d %s", pair[1], free.status, free.body)
			}
		}
		if r := e.write(t, http.MethodPut, "/api/v1/clusters/acme-prod", acmeSecret, mustJSON(t, record("wiki"))); r.status != http.StatusCreated {
			t.Errorf("acme creates in its own space: %d %s", r.status, r.body)
		}
		// The holder of a record from before the partition keeps it.
		if r := e.write(t, http.MethodPut, "/api/v1/clusters/legacy-1", globexSecret, mustJSON(t, record("wiki"))); r.status != http.StatusOK {
			t.Errorf("globex updates its record legacy-1: %d %s", r.status, r.body)
		}
	})
}
