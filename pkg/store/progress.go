package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// A job in progress: what it wrote so far, whether it became the
// application's intent, and when a run that failed on something transient
// is tried again.

// progressJob is the jobs table as migration 12 left it.
type progressJob struct {
	NextAttemptAt *time.Time
}

func (progressJob) TableName() string { return "jobs" }

// addJobProgress is migration 12: the time a queued job retried after a
// transient failure is attempted again.
func addJobProgress(tx *gorm.DB) error {
	if tx.Migrator().HasColumn(&progressJob{}, "NextAttemptAt") {
		return nil // a database created with today's structs has it
	}
	return tx.Migrator().AddColumn(&progressJob{}, "NextAttemptAt")
}

// ReportProgress records the claimed job's per-object results so far.
func (s *Store) ReportProgress(ctx context.Context, c Claim, objects string) error {
	return s.updateClaimed(ctx, c, map[string]any{"objects": objects}, nil)
}

// MarkIntent records that the claimed job passed its preflight: from now
// on it is its application's latest intent (Job.Intent), whatever its
// outcome.
func (s *Store) MarkIntent(ctx context.Context, c Claim) error {
	return s.updateClaimed(ctx, c, map[string]any{"intent": true}, nil)
}

// Retry is a claimed job put back in the queue after a transient failure:
// it waits, with reason, until At, and is then claimed again.
type Retry struct {
	Reason  string
	At      time.Time // when it is attempted again
	Since   time.Time // when it started waiting (kept from an earlier retry)
	Objects string    // JSON array of per-object results so far
	Retries string    // JSON: every transient failure so far
	Now     time.Time
}

// RequeueJob puts the claimed job back in the queue as waiting, with its
// events, releasing its lease.
func (s *Store) RequeueJob(ctx context.Context, c Claim, r Retry, events ...*Event) error {
	return s.updateClaimed(ctx, c, map[string]any{
		"status": JobQueued, "wait_reason": r.Reason, "waiting_since": r.Since, "next_attempt_at": r.At,
		"objects": r.Objects, "retries": r.Retries, "updated_at": r.Now, "lease_owner": "", "lease_expires_at": nil,
	}, events)
}

// ActiveJob is a queued or running job of an application.
type ActiveJob struct {
	ID          string
	Namespace   string
	Application string
	Status      JobStatus
}

// ActiveJobs lists the queued and running jobs of a record's generation
// that bring their application a new intent — not those of trigger
// except, nor operate jobs, which never touch the application's objects —
// oldest first.
func (s *Store) ActiveJobs(ctx context.Context, uid, except string) ([]ActiveJob, error) {
	var out []ActiveJob
	err := s.db.WithContext(ctx).Model(&Job{}).Select("id, namespace, application, status").
		Where("cluster_uid = ? AND status IN ? AND trigger <> ? AND action <> ?", uid, []JobStatus{JobQueued, JobRunning}, except, ActionOperate).
		Order("seq").Scan(&out).Error
	return out, err
}
