package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/vworkspace/pushd/internal/apitest"
	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/pkg/store"
)

// TestClusterIDsRevealNoOtherOrganization: with two organizations, creating
// an id answers the same whether another organization holds it or nobody
// does, for ids in another organization's space and for ids in none.
func TestClusterIDsRevealNoOtherOrganization(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		e := newEnv(t, db)
		if r := e.Write(t, http.MethodPut, "/api/v1/clusters/globex-shared", apitest.GlobexSecret, apitest.MustJSON(t, apitest.Record("wiki"))); r.Status != http.StatusCreated {
			t.Fatalf("globex creates in its own space: %d %s", r.Status, r.Body)
		}
		// A record from before the partition: its id is in no one's space.
		if _, err := e.Store.PutCluster(context.Background(), &store.Cluster{ID: "legacy-1", Organization: "globex"}); err != nil {
			t.Fatal(err)
		}
		for _, pair := range [][2]string{{"globex-shared", "globex-free"}, {"legacy-1", "legacy-2"}} {
			held := e.Write(t, http.MethodPut, "/api/v1/clusters/"+pair[0], apitest.AcmeSecret, apitest.MustJSON(t, apitest.Record("wiki")))
			free := e.Write(t, http.MethodPut, "/api/v1/clusters/"+pair[1], apitest.AcmeSecret, apitest.MustJSON(t, apitest.Record("wiki")))
			if held.Status != free.Status || held.Code(t) != free.Code(t) || string(held.Body) != string(free.Body) {
				t.Errorf("held %s: %d %s; free %s: %d %s", pair[0], held.Status, held.Body, pair[1], free.Status, free.Body)
			}
			if free.Status != http.StatusUnprocessableEntity || free.Code(t) != "cluster_id_outside_organization" {
				t.Errorf("acme creates %s: %d %s", pair[1], free.Status, free.Body)
			}
		}
		if r := e.Write(t, http.MethodPut, "/api/v1/clusters/acme-prod", apitest.AcmeSecret, apitest.MustJSON(t, apitest.Record("wiki"))); r.Status != http.StatusCreated {
			t.Errorf("acme creates in its own space: %d %s", r.Status, r.Body)
		}
		// The holder of a record from before the partition keeps it.
		if r := e.Write(t, http.MethodPut, "/api/v1/clusters/legacy-1", apitest.GlobexSecret, apitest.MustJSON(t, apitest.Record("wiki"))); r.Status != http.StatusOK {
			t.Errorf("globex updates its record legacy-1: %d %s", r.Status, r.Body)
		}
	})
}
