package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestGenerationsSeparateReusedIDs deletes a record and creates another
// under the same id: it has a new generation, the old generation's jobs
// and events are not its own, and the old manifests are emptied once the
// retention passed — those of a live record stay.
func TestGenerationsSeparateReusedIDs(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		old := &Cluster{ID: "shared-1", Organization: "acme"}
		if _, err := s.PutCluster(ctx, old); err != nil {
			t.Fatal(err)
		}
		live := &Cluster{ID: "other-1", Organization: "acme"}
		if _, err := s.PutCluster(ctx, live); err != nil {
			t.Fatal(err)
		}
		done := time.Now().UTC().Add(-time.Hour)
		job := func(id string, c *Cluster) *Job {
			return &Job{Organization: "acme", ID: id, Cluster: c.ID, ClusterUID: c.UID, Namespace: "ns", Application: "app",
				Action: "apply", Manifests: `[{"kind":"Secret"}]`, Status: JobSucceeded, Intent: true, FinishedAt: &done}
		}
		for _, j := range []*Job{job("a-1", old), job("l-1", live)} {
			if _, err := s.CreateJob(ctx, j, &Event{ID: "evt_" + j.ID, Type: "job.status_changed", Organization: "acme", Cluster: j.Cluster, Data: "{}"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DeleteCluster(ctx, "acme", "shared-1"); err != nil {
			t.Fatal(err)
		}
		reused := &Cluster{ID: "shared-1", Organization: "globex"}
		if created, err := s.PutCluster(ctx, reused); err != nil || !created {
			t.Fatalf("reuse: %v %v", created, err)
		}
		if reused.UID == "" || reused.UID == old.UID {
			t.Fatalf("generations: old %q, new %q", old.UID, reused.UID)
		}
		if _, err := s.LatestIntent(ctx, reused.UID, "ns", "app"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("the new record's latest intent: %v", err)
		}
		if es, err := s.Events(ctx, "shared-1", 10); err != nil || len(es) != 0 {
			t.Fatalf("the new record's events: %+v %v", es, err)
		}
		if n, err := s.ForgetManifests(ctx, time.Now()); err != nil || n != 1 {
			t.Fatalf("forget manifests: %d %v", n, err)
		}
		if j, _ := s.GetJob(ctx, "acme", "a-1"); j.Manifests != "" {
			t.Fatalf("deleted record's manifests kept: %q", j.Manifests)
		}
		if j, _ := s.GetJob(ctx, "acme", "l-1"); j.Manifests == "" {
			t.Fatal("a live record's manifests were emptied")
		}
	})
}

// TestWritesForAGoneGenerationAreDropped: application states and events
// written for a record's generation after the record was deleted — a poll
// in flight across the delete — are dropped, so the id registered again
// starts empty.
func TestWritesForAGoneGenerationAreDropped(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		old := &Cluster{ID: "gone-1", Organization: "acme"}
		if _, err := s.PutCluster(ctx, old); err != nil {
			t.Fatal(err)
		}
		fenced := WithGeneration(ctx, old.ID, old.UID)
		state := ApplicationState{Cluster: old.ID, Namespace: "ns", Application: "app", Health: "Current"}
		if err := s.SaveApplicationStates(fenced, old.ID, []ApplicationState{state}); err != nil {
			t.Fatalf("a write for the live generation: %v", err)
		}
		if err := s.DeleteCluster(ctx, "acme", old.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutCluster(ctx, &Cluster{ID: old.ID, Organization: "acme"}); err != nil {
			t.Fatal(err)
		}
		err := s.SaveApplicationStates(fenced, old.ID, []ApplicationState{state},
			&Event{ID: "evt_late", Type: "application.health_changed", Organization: "acme", Cluster: old.ID, Data: "{}"})
		if !errors.Is(err, ErrGenerationGone) {
			t.Fatalf("a write for the deleted generation: %v, want ErrGenerationGone", err)
		}
		if rows, err := s.ApplicationStates(ctx, old.ID); err != nil || len(rows) != 0 {
			t.Fatalf("the new record's application states: %+v %v", rows, err)
		}
		if es, err := s.Events(ctx, old.ID, 10); err != nil || len(es) != 0 {
			t.Fatalf("the new record's events: %+v %v", es, err)
		}
	})
}
