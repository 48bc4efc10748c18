package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestConcurrentCreatesShareCommits: jobs created at once are committed
// together, fewer transactions than jobs, and each caller still gets its
// own answer: its job stored, or ErrJobExists with the job that holds the
// id when two callers (in one batch or not) submit the same id.
func TestConcurrentCreatesShareCommits(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		const n = 64
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("job-%02d", i%(n-8)) // the last 8 repeat the first 8
		}
		got := make([]*Job, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Go(func() {
				got[i], errs[i] = s.CreateJob(ctx, &Job{Organization: "o", ID: id, Cluster: "c", Namespace: "ns",
					Application: fmt.Sprintf("app-%d", i), Action: "apply", Status: JobQueued})
			})
		}
		wg.Wait()
		stored, exists := map[string]int{}, map[string]int{}
		for i, err := range errs {
			switch {
			case err == nil:
				stored[ids[i]]++
			case errors.Is(err, ErrJobExists):
				exists[ids[i]]++
				if got[i] == nil || got[i].ID != ids[i] || got[i].Seq == 0 {
					t.Errorf("%s: ErrJobExists with %+v, want the stored job", ids[i], got[i])
				}
			default:
				t.Errorf("%s: %v", ids[i], err)
			}
		}
		for _, id := range ids {
			if stored[id] != 1 {
				t.Errorf("%s stored %d times", id, stored[id])
			}
		}
		if len(exists) != 8 {
			t.Errorf("%d ids answered ErrJobExists, want 8", len(exists))
		}
		jobs, err := s.ListJobs(ctx, JobFilter{Organization: "o", Limit: 1000})
		if err != nil || len(jobs) != n-8 {
			t.Fatalf("%d jobs listed (%v), want %d", len(jobs), err, n-8)
		}
		s.group.mu.Lock()
		commits := s.group.commits
		s.group.mu.Unlock()
		if commits >= n {
			t.Errorf("%d commits for %d concurrent creates: none grouped", commits, n)
		}
		t.Logf("%d creates in %d commits", n, commits)
	})
}

// TestConcurrentMessagesShareCommits: messages begun and finished at once
// share commits too, and a repeated id still answers ErrMessageExists.
func TestConcurrentMessagesShareCommits(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		const n = 48
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				id := fmt.Sprintf("msg-%02d", i%(n-4)) // the last 4 repeat the first 4
				if _, errs[i] = s.BeginMessage(ctx, &Message{Organization: "o", ID: id, BodyHash: "h"}); errs[i] == nil {
					errs[i] = s.FinishMessage(ctx, "o", id, 202, "application/json", []byte(`{}`))
				}
			})
		}
		wg.Wait()
		exists := 0
		for _, err := range errs {
			switch {
			case errors.Is(err, ErrMessageExists):
				exists++
			case err != nil:
				t.Error(err)
			}
		}
		if exists != 4 {
			t.Errorf("%d answered ErrMessageExists, want 4", exists)
		}
		s.group.mu.Lock()
		commits := s.group.commits
		s.group.mu.Unlock()
		if commits >= 2*(n-4) {
			t.Errorf("%d commits for %d begun and finished messages: none grouped", commits, 2*(n-4))
		}
		t.Logf("%d begins, %d finishes in %d commits", n, n-4, commits)
	})
}
