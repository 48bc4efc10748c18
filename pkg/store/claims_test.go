package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A claim writes a running job's progress while it runs; once the job is
// final nothing written with the claim reaches it (ErrFenced): a final
// job's page has nothing left to show.
func TestFinalJobIsFenced(t *testing.T) {
	each(t, func(t *testing.T, ctx context.Context, s *Store) {
		started := time.Now()
		lease := started.Add(time.Hour)
		row, err := s.CreateJob(ctx, &Job{Organization: "acme", ID: "live-1", Cluster: "c-1", Namespace: "apps", Application: "nextcloud",
			Engine: "manifest", Type: "deploy", Action: "apply", Trigger: "odoo", TimeoutSeconds: 300,
			Status: JobRunning, Attempt: 1, LeaseOwner: "test", LeaseExpiresAt: &lease, StartedAt: &started})
		if err != nil {
			t.Fatal(err)
		}
		claim := Claim{Seq: row.Seq, Attempt: 1}
		if err := s.ReportProgress(ctx, claim, `[{"kind":"ConfigMap","name":"settings","status":"InProgress"}]`); err != nil {
			t.Fatalf("progress of a running job: %v", err)
		}
		done := `[{"kind":"ConfigMap","name":"settings","status":"Current"}]`
		if err := s.FinishJob(ctx, claim, Outcome{Status: JobSucceeded, Objects: done, Retries: "[]", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := s.ReportProgress(ctx, claim, `[]`); !errors.Is(err, ErrFenced) {
			t.Fatalf("progress of a final job: %v, want ErrFenced", err)
		}
		if got, err := s.GetJob(ctx, "acme", "live-1"); err != nil || got.Objects != done || got.Status != JobSucceeded {
			t.Fatalf("the final job: %+v %v, want its outcome unchanged", got, err)
		}
	})
}
