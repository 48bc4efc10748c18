package store

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestApplicationStatesReplaceTheClusterSet saves a cluster's application
// states with their event, replaces the set (an application gone from the
// cluster loses its row), and leaves other clusters' rows alone.
func TestApplicationStatesReplaceTheClusterSet(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		a := ApplicationState{Cluster: "c1", Namespace: "ns", Application: "a", Health: "Current", HealthChangedAt: at}
		b := ApplicationState{Cluster: "c1", Namespace: "ns", Application: "b", Health: "Failed", HealthChangedAt: at,
			Drift: "drifted", DriftCheckedAt: at, DriftObjects: `[{"kind":"ConfigMap"}]`, CorrectionJob: "drift-1"}
		other := ApplicationState{Cluster: "c2", Namespace: "ns", Application: "a", Health: "Current", HealthChangedAt: at}
		evt := &Event{ID: "evt_app_1", Type: "drift.detected", Organization: "acme", Cluster: "c1", Data: "{}"}
		if err := s.SaveApplicationStates(ctx, "c1", []ApplicationState{a, b}, evt); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveApplicationStates(ctx, "c2", []ApplicationState{other}); err != nil {
			t.Fatal(err)
		}
		if es, err := s.Events(ctx, "c1", 10); err != nil || len(es) != 1 || es[0].ID != evt.ID {
			t.Fatalf("events %+v, %v", es, err)
		}
		got, err := s.ApplicationStates(ctx, "c1")
		if err != nil {
			t.Fatal(err)
		}
		utc := cmp.Transformer("utc", func(t time.Time) time.Time { return t.UTC() })
		if diff := cmp.Diff([]ApplicationState{a, b}, got, utc); diff != "" {
			t.Fatalf("states (-want +got):\n%s", diff)
		}
		b.Drift, b.DriftObjects, b.CorrectionJob = "in_sync", "", ""
		if err := s.SaveApplicationStates(ctx, "c1", []ApplicationState{b}); err != nil {
			t.Fatal(err)
		}
		if got, _ = s.ApplicationStates(ctx, "c1"); cmp.Diff([]ApplicationState{b}, got, utc) != "" {
			t.Fatalf("after replacing: %+v", got)
		}
		if got, _ = s.ApplicationStates(ctx, "c2"); len(got) != 1 {
			t.Fatalf("other cluster: %+v", got)
		}
	})
}
