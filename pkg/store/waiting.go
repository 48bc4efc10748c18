package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// Waiting jobs: while a cluster cannot be reached its queued jobs are not
// claimed; they stay queued, marked with the reason, until the cluster is
// back (a claim clears the mark) or their deadline passes (FailQueued).

// QueuedJobs lists a cluster's queued jobs, oldest first.
func (s *Store) QueuedJobs(ctx context.Context, cluster string) ([]Job, error) {
	var jobs []Job
	err := s.db.WithContext(ctx).Where("cluster = ? AND status = ?", cluster, JobQueued).Order("seq").Find(&jobs).Error
	return jobs, err
}

// MarkWaiting records that the queued job seq waits, and why, with its
// events; ok is false when the job was no longer queued or already waiting.
func (s *Store) MarkWaiting(ctx context.Context, seq int64, reason string, at time.Time, events ...*Event) (ok bool, err error) {
	return s.updateQueued(ctx, "(wait_reason = '' OR wait_reason IS NULL)", seq,
		map[string]any{"wait_reason": reason, "waiting_since": at, "updated_at": at}, nil, events)
}

// FailQueued ends a job that is still queued as failed, with why and its
// events; ok is false when the job was no longer queued.
func (s *Store) FailQueued(ctx context.Context, seq int64, why Outcome, events ...*Event) (ok bool, err error) {
	return s.updateQueued(ctx, "TRUE", seq, map[string]any{
		"status": JobFailed, "finished_at": why.At, "updated_at": why.At,
		"error_code": why.ErrorCode, "error_message": why.ErrorMessage, "cleanup_after": why.CleanupAfter,
	}, why.RequestCompleted, events)
}

// updateQueued updates the job seq while it is queued and cond holds; when
// completed is set, the update ends the job (completeRequest).
func (s *Store) updateQueued(ctx context.Context, cond string, seq int64, updates map[string]any, completed func([]Job) *Event, events []*Event) (ok bool, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Model(&Job{}).Where("seq = ? AND status = ?", seq, JobQueued).Where(cond).Updates(updates)
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error
		}
		ok = true
		if err := addEvents(tx, events); err != nil {
			return err
		}
		return s.completeRequest(tx, seq, completed)
	})
	return ok, err
}

// ClearWaiting unmarks the cluster's waiting jobs: it can be reached again.
// A job put back after a transient failure keeps its mark until it is
// claimed again.
func (s *Store) ClearWaiting(ctx context.Context, cluster string) error {
	return s.db.WithContext(ctx).Model(&Job{}).Where("cluster = ? AND status = ? AND wait_reason <> '' AND next_attempt_at IS NULL", cluster, JobQueued).
		Updates(map[string]any{"wait_reason": "", "waiting_since": nil}).Error
}
