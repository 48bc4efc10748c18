package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestRequestCompletedOnce: the jobs of one request, on several clusters,
// end at the same moment in concurrent transactions; exactly one of them
// adds the request's completion event, built from every job's end, and
// only once none is unfinished. A request ended by a queued job's cancel
// is completed too.
func TestRequestCompletedOnce(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		now := time.Now().UTC()
		const n = 8
		for i := range n {
			if _, err := s.CreateJob(ctx, &Job{Organization: "o", ID: fmt.Sprintf("j%d", i), Cluster: fmt.Sprintf("c%d", i), Namespace: "ns",
				Application: "app", RequestID: "r", Action: "apply", Status: JobQueued}); err != nil {
				t.Fatal(err)
			}
		}
		var claims []Claim
		for i := range n {
			j, err := s.ClaimJob(ctx, fmt.Sprintf("c%d", i), "w", now, time.Minute)
			if err != nil || j == nil {
				t.Fatalf("claim c%d: %v %v", i, j, err)
			}
			claims = append(claims, Claim{Seq: j.Seq, Attempt: j.Attempt})
		}
		var mu sync.Mutex
		var built [][]Job
		completed := func(jobs []Job) *Event {
			mu.Lock()
			built = append(built, jobs)
			mu.Unlock()
			return &Event{ID: "evt-" + fmt.Sprint(len(jobs)), Type: "request.completed", Organization: "o", Data: "{}"}
		}
		var wg sync.WaitGroup
		for _, c := range claims {
			wg.Go(func() {
				err := s.FinishJob(ctx, c, Outcome{Status: JobSucceeded, Objects: "[]", At: now, RequestCompleted: completed})
				if err != nil {
					t.Errorf("finish %d: %v", c.Seq, err)
				}
			})
		}
		wg.Wait()
		if len(built) != 1 {
			t.Fatalf("completion built %d times, want once", len(built))
		}
		for _, j := range built[0] {
			if j.Status != JobSucceeded {
				t.Errorf("completion saw %s %s", j.ID, j.Status)
			}
		}
		var events int64
		s.db.Model(&Event{}).Where("type = ?", "request.completed").Count(&events)
		if events != 1 {
			t.Errorf("%d completion events", events)
		}
		var marks int64
		s.db.Model(&RequestCompletion{}).Where("organization = ? AND request_id = ?", "o", "r").Count(&marks)
		if marks != 1 {
			t.Errorf("%d completion marks", marks)
		}

		// A request whose last job is cancelled while queued.
		if _, err := s.CreateJob(ctx, &Job{Organization: "o", ID: "q", Cluster: "c0", Namespace: "ns", Application: "other", RequestID: "r2",
			Action: "apply", Status: JobQueued}); err != nil {
			t.Fatal(err)
		}
		q, err := s.GetJob(ctx, "o", "q")
		if err != nil {
			t.Fatal(err)
		}
		built = nil
		if ok, err := s.CancelQueued(ctx, q.Seq, Outcome{ErrorCode: "cancelled", At: now, RequestCompleted: completed}); err != nil || !ok {
			t.Fatalf("cancel: %v %v", ok, err)
		}
		if len(built) != 1 || len(built[0]) != 1 || built[0][0].Status != JobCancelled {
			t.Errorf("completion of r2: %+v", built)
		}
	})
}

// TestRetentionKeepsOperationsToCleanUp: a finished operate job past the
// retention stays while its objects are still to be deleted, and goes
// once they were.
func TestRetentionKeepsOperationsToCleanUp(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		old := time.Now().UTC().Add(-48 * time.Hour)
		if _, err := s.CreateJob(ctx, &Job{Organization: "o", ID: "op", Cluster: "c", Namespace: "ns", Application: "app", Action: ActionOperate,
			Status: JobQueued}); err != nil {
			t.Fatal(err)
		}
		j, err := s.ClaimJob(ctx, "c", "w", old, time.Minute)
		if err != nil || j == nil {
			t.Fatal(j, err)
		}
		later := time.Now().UTC().Add(time.Hour)
		if err := s.FinishJob(ctx, Claim{Seq: j.Seq, Attempt: j.Attempt}, Outcome{Status: JobSucceeded, Objects: "[]", At: old, CleanupAfter: &later}); err != nil {
			t.Fatal(err)
		}
		if n, err := s.PruneJobs(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("pruned %d (%v) before the operation's cleanup", n, err)
		}
		if due, err := s.CleanupsDue(ctx, "c", later.Add(time.Second), 10); err != nil || len(due) != 1 {
			t.Fatalf("cleanups due: %v %v", due, err)
		}
		if err := s.MarkCleaned(ctx, j.Seq, time.Now()); err != nil {
			t.Fatal(err)
		}
		if due, err := s.CleanupsDue(ctx, "c", later.Add(time.Second), 10); err != nil || len(due) != 0 {
			t.Fatalf("cleanups due after the cleanup: %v %v", due, err)
		}
		if n, err := s.PruneJobs(ctx, time.Now().Add(-time.Hour)); err != nil || n != 1 {
			t.Errorf("pruned %d (%v) after the cleanup, want 1", n, err)
		}
	})
}
