package health_test

import (
	"context"
	"slices"
	"testing"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
)

// TestProbeCountsNeighbourRights registers two records of two organizations
// on one test-bed cluster, each with its own bootstrapped ServiceAccount:
// neither probe finds excess rights. When A's credential also holds rights
// in B's namespace (bootstrapped for both, while A's record allows only its
// own), A's probe reports them as excess and A is over-privileged.
func TestProbeCountsNeighbourRights(t *testing.T) {
	bed.Each(t, 1, func(t *testing.T, ctx context.Context, db dbtest.Database, c *testbed.Cluster) {
		f := fleettest.New(t, db, fleettest.Options{})
		nsA, nsB := fleettest.Namespace(t, c, true), fleettest.Namespace(t, c, true)
		idA, idB := "tenant-a-"+nsA[2:], "tenant-b-"+nsB[2:]
		put := func(org, id, ns string) *clusters.Record {
			rec, _, err := f.Registry.Put(ctx, org, clusters.Record{ID: id, AllowedNamespaces: []string{ns}})
			if err != nil {
				t.Fatal(err)
			}
			return rec
		}
		recA, recB := put("acme", idA, nsA), put("globex", idB, nsB)
		fleettest.Enroll(t, f.Creds, c, idA, []string{nsA})
		fleettest.Enroll(t, f.Creds, c, idB, []string{nsB})
		for _, rec := range []*clusters.Record{recA, recB} {
			st, err := f.Monitor.Check(ctx, rec)
			if err != nil || st.Connectivity.State != health.StateReady || st.OverPrivileged() {
				t.Fatalf("%s: %s %s, excess %v, %v", rec.ID, st.Connectivity.State, st.Connectivity.Message, st.Credential.ExcessRights, err)
			}
		}

		fleettest.Enroll(t, f.Creds, c, idA, []string{nsA, nsB}) // A's ServiceAccount now also writes in B's namespace
		st, err := f.Monitor.Check(ctx, recA)
		if err != nil {
			t.Fatal(err)
		}
		if !st.OverPrivileged() || !slices.Contains(st.Credential.ExcessRights, "create configmaps in "+nsB) {
			t.Fatalf("A's rights in B's namespace not reported: %v", st.Credential.ExcessRights)
		}
	})
}
