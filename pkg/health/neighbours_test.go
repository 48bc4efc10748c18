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

// TestProbeCoversEveryNeighbour gives B's record 40 managed namespaces on
// A's test-bed cluster, more than one probe asks about, and A's credential
// rights in the one sorted last. Within as many full probes as it takes to
// page through them (two), A's probe reports them, and every probe after
// it still does: a namespace not asked about this time keeps what it was
// last found to allow. Once the right is taken away, it is gone within two
// probes.
func TestProbeCoversEveryNeighbour(t *testing.T) {
	bed.Each(t, 2, func(t *testing.T, ctx context.Context, db dbtest.Database, c *testbed.Cluster) {
		f := fleettest.New(t, db, fleettest.Options{})
		nsA := fleettest.Namespace(t, c, true)
		var nsB []string
		for range 40 {
			nsB = append(nsB, fleettest.Namespace(t, c, true))
		}
		slices.Sort(nsB)
		last := nsB[len(nsB)-1]
		idA, idB := "tenant-a-"+nsA[2:], "tenant-b-"+nsA[2:]
		recA, _, err := f.Registry.Put(ctx, "acme", clusters.Record{ID: idA, AllowedNamespaces: []string{nsA}})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.Registry.Put(ctx, "globex", clusters.Record{ID: idB, AllowedNamespaces: nsB}); err != nil {
			t.Fatal(err)
		}
		fleettest.Enroll(t, f.Creds, c, idB, nsB[:1])
		fleettest.Enroll(t, f.Creds, c, idA, []string{nsA, last}) // A's ServiceAccount also writes in B's last namespace

		want := "create configmaps in " + last
		found := 0
		for probe := 1; probe <= 4; probe++ {
			st, err := f.Monitor.Check(ctx, recA)
			if err != nil || st.Connectivity.State != health.StateReady {
				t.Fatalf("probe %d: %s %s, %v", probe, st.Connectivity.State, st.Connectivity.Message, err)
			}
			switch has := slices.Contains(st.Credential.ExcessRights, want); {
			case has && found == 0:
				found = probe
			case !has && found > 0:
				t.Fatalf("probe %d: %q reported by probe %d, no longer: %v", probe, want, found, st.Credential.ExcessRights)
			case !has && probe == 2:
				t.Fatalf("A's rights in B's 40th namespace not reported within two probes: %v", st.Credential.ExcessRights)
			}
		}

		fleettest.Enroll(t, f.Creds, c, idA, []string{nsA}) // the right taken away again
		for probe := 1; ; probe++ {
			st, err := f.Monitor.Check(ctx, recA)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(st.Credential.ExcessRights, want) {
				break
			}
			if probe == 2 {
				t.Fatalf("%q still reported two probes after it was taken away: %v", want, st.Credential.ExcessRights)
			}
		}
	})
}
