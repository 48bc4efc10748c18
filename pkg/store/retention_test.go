package store

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestPruneJobsKeepsWhatIsNeeded: finished jobs older than the cutoff go,
// except each live application's latest intent (the drift reference) and
// jobs whose events Odoo has not received yet; queued and recent jobs
// stay; a deleted record's latest intent is nobody's reference and goes.
// The clock is the cutoff the caller passes: no sleeping.
func TestPruneJobsKeepsWhatIsNeeded(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		retention := 30 * 24 * time.Hour
		old, recent := now.Add(-retention-time.Hour), now.Add(-time.Hour)
		live := &Cluster{ID: "live-1", Organization: "acme"}
		gone := &Cluster{ID: "gone-1", Organization: "acme"}
		for _, c := range []*Cluster{live, gone} {
			if _, err := s.PutCluster(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		add := func(id string, c *Cluster, app string, status JobStatus, intent bool, finished time.Time, delivered *time.Time) {
			t.Helper()
			j := &Job{Organization: "acme", ID: id, Cluster: c.ID, ClusterUID: c.UID, Namespace: "ns", Application: app,
				Action: "apply", Manifests: secretManifest, Status: status, Intent: intent, CreatedAt: old.Add(-time.Hour)}
			if status != JobQueued {
				j.FinishedAt = &finished
			}
			e := &Event{ID: "evt_" + id, Type: "job.status_changed", Organization: "acme", Cluster: c.ID,
				Data: `{"id":"` + id + `","organization":"acme","status":"` + string(status) + `"}`, CreatedAt: finished}
			if _, err := s.CreateJob(ctx, j, e); err != nil {
				t.Fatal(err)
			}
			if delivered != nil {
				if err := s.MarkEventDelivered(ctx, e.Seq, *delivered); err != nil {
					t.Fatal(err)
				}
			}
		}
		add("a-1", live, "a", JobSucceeded, true, old, &old)        // an older intent: goes
		add("a-2", live, "a", JobSucceeded, true, old, &old)        // a's latest intent: stays
		add("a-3", live, "a", JobFailed, false, old, &old)          // failed before writing: goes
		add("b-1", live, "b", JobCancelled, false, old, &old)       // b never had an intent: goes
		add("b-2", live, "b", JobQueued, false, old, nil)           // not finished: stays
		add("c-1", live, "c", JobFailed, false, old, nil)           // its event is undelivered: stays
		add("c-10", live, "c", JobFailed, false, old, &old)         // c-1's event does not keep c-10
		add("d-1", live, "d", JobSucceeded, false, recent, &recent) // finished within the retention: stays
		add("g-1", gone, "a", JobSucceeded, true, old, &old)        // a deleted record's intent: goes
		if err := s.DeleteCluster(ctx, "acme", "gone-1"); err != nil {
			t.Fatal(err)
		}

		n, err := s.PruneJobs(ctx, now.Add(-retention))
		if err != nil || n != 5 {
			t.Fatalf("pruned %d jobs, want 5: %v", n, err)
		}
		left := func() []string {
			jobs, err := s.ListJobs(ctx, JobFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, j := range jobs {
				ids = append(ids, j.ID)
			}
			slices.Sort(ids)
			return ids
		}
		if got, want := left(), []string{"a-2", "b-2", "c-1", "d-1"}; !slices.Equal(got, want) {
			t.Fatalf("jobs left %v, want %v", got, want)
		}
		if ref, err := s.LatestIntent(ctx, live.UID, "ns", "a"); err != nil || ref.ID != "a-2" || ref.Manifests != secretManifest {
			t.Fatalf("the drift reference: %+v %v", ref, err)
		}
		// Delivered events older than the retention go too; undelivered stay.
		if n, err := s.PruneEvents(ctx, now.Add(-retention)); err != nil || n != 6 {
			t.Fatalf("pruned %d events, want 6: %v", n, err)
		}
		es, err := s.Events(ctx, "", 100)
		if err != nil || len(es) != 3 {
			t.Fatalf("events left: %+v %v", es, err)
		}
		// Once delivered, c-1 has nothing left to keep it.
		for _, e := range es {
			if e.ID == "evt_c-1" {
				if err := s.MarkEventDelivered(ctx, e.Seq, now); err != nil {
					t.Fatal(err)
				}
			}
		}
		if n, err := s.PruneJobs(ctx, now.Add(-retention)); err != nil || n != 1 {
			t.Fatalf("second sweep pruned %d, want 1: %v", n, err)
		}
		if n, err := s.PruneJobs(ctx, now.Add(-retention)); err != nil || n != 0 {
			t.Fatalf("a sweep with nothing to do pruned %d: %v", n, err)
		}
	})
}
