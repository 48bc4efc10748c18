package clusters_test

import (
	"context"
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/internal/fleettest"
	"github.com/vworkspace/pushd/internal/testbed"
	"github.com/vworkspace/pushd/pkg/clusters"
	"github.com/vworkspace/pushd/pkg/health"
	"github.com/vworkspace/pushd/pkg/store"
)

// TestRecordEvents: a replaced credential, a namespace losing its
// managed-by label and a deleted record each reach Odoo as an event.
func TestRecordEvents(t *testing.T) {
	bed.Each(t, 2, func(t *testing.T, ctx context.Context, db dbtest.Database, c *testbed.Cluster) {
		f := fleettest.New(t, db, fleettest.Options{})
		ns := fleettest.Namespace(t, c, true)
		id := "events-" + ns[2:]
		rec, _, err := f.Registry.Put(ctx, fleettest.Org, clusters.Record{ID: id, AllowedNamespaces: []string{ns}})
		if err != nil {
			t.Fatal(err)
		}
		kc, err := (&clusters.Credential{Server: c.Host, CAData: c.CAData, Token: c.AdminToken}).Kubeconfig(id)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Registry.SetKubeconfig(ctx, fleettest.Org, id, kc); err != nil {
			t.Fatal(err)
		}
		if e := lastEvent(t, f.Store, id, clusters.EventCredentialChanged); e == nil || e["reason"] != clusters.CredentialReplaced {
			t.Fatalf("credential.changed: %v", e)
		}
		if _, err := f.Monitor.Check(ctx, rec); err != nil {
			t.Fatal(err)
		}
		patch := []byte(`{"metadata":{"labels":{"managed-by":null}}}`)
		if _, err := fleettest.AdminClient(t, c).CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Monitor.Check(ctx, rec); err != nil {
			t.Fatal(err)
		}
		e := lastEvent(t, f.Store, id, health.EventNamespaceChanged)
		if e == nil || e["namespace"] != ns || e["state"].(map[string]any)["labeled"] != false || e["previous_state"].(map[string]any)["labeled"] != true {
			t.Fatalf("cluster.namespace_changed: %v", e)
		}
		if err := f.Registry.Delete(ctx, fleettest.Org, id); err != nil {
			t.Fatal(err)
		}
		all, err := f.Store.Events(ctx, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, ev := range all {
			found = found || (ev.Cluster == id && ev.Type == clusters.EventRecordDeleted && ev.ClusterUID == rec.UID)
		}
		if !found {
			t.Fatal("no cluster.deleted event")
		}
	})
}

// lastEvent is the data of the cluster's newest event of typ; nil when none.
func lastEvent(t *testing.T, st *store.Store, cluster, typ string) map[string]any {
	t.Helper()
	es, err := st.Events(context.Background(), cluster, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if e.Type == typ {
			var m map[string]any
			if err := json.Unmarshal([]byte(e.Data), &m); err != nil {
				t.Fatal(err)
			}
			return m
		}
	}
	return nil
}
