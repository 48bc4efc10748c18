package store

import (
	"context"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// What operate jobs and requests add to the jobs table: an operate job's
// result (its outcome and outputs), when its objects were cleaned up after
// their time to live, and the requests whose completion was announced.

// operationJob is the jobs table as migration 14 left it.
type operationJob struct {
	Result       string     `gorm:"type:text"`
	CleanupAfter *time.Time `gorm:"index"`
	CleanedAt    *time.Time
}

func (operationJob) TableName() string { return "jobs" }

// RequestCompletion records that a request's completion was announced
// (request.completed): at most one row, so at most one event, per request.
type RequestCompletion struct {
	Organization string `gorm:"primaryKey;size:128"`
	RequestID    string `gorm:"primaryKey;size:128"`
	CompletedAt  time.Time
}

// addOperations is migration 14.
func addOperations(tx *gorm.DB) error {
	for _, field := range []string{"Result", "CleanupAfter", "CleanedAt"} {
		if tx.Migrator().HasColumn(&operationJob{}, field) {
			continue // a database created with today's structs has it
		}
		if err := tx.Migrator().AddColumn(&operationJob{}, field); err != nil {
			return err
		}
	}
	if !tx.Migrator().HasIndex(&operationJob{}, "CleanupAfter") {
		if err := tx.Migrator().CreateIndex(&operationJob{}, "CleanupAfter"); err != nil {
			return err
		}
	}
	return tx.Migrator().AutoMigrate(&RequestCompletion{})
}

// ReportResult records what the claimed job's operation reports so far
// (Job.Result, JSON) with its objects ("" leaves them as they are).
func (s *Store) ReportResult(ctx context.Context, c Claim, objects, result string) error {
	updates := map[string]any{"result": result}
	if objects != "" {
		updates["objects"] = objects
	}
	return s.updateClaimed(ctx, c, updates, nil)
}

// CleanupsDue lists the finished jobs of the cluster whose objects are due
// to be deleted (CleanupAfter passed) and were not yet, oldest first.
func (s *Store) CleanupsDue(ctx context.Context, cluster string, now time.Time, limit int) ([]Job, error) {
	var out []Job
	err := s.db.WithContext(ctx).Omit("manifests", "objects", "retries", "result").
		Where("cluster = ? AND cleanup_after IS NOT NULL AND cleanup_after <= ? AND cleaned_at IS NULL", cluster, now).
		Order("cleanup_after").Limit(limit).Find(&out).Error
	return out, err
}

// ClustersWithCleanups lists the clusters with objects due to be deleted.
func (s *Store) ClustersWithCleanups(ctx context.Context, now time.Time) ([]string, error) {
	var out []string
	err := s.db.WithContext(ctx).Model(&Job{}).Where("cleanup_after IS NOT NULL AND cleanup_after <= ? AND cleaned_at IS NULL", now).
		Distinct("cluster").Pluck("cluster", &out).Error
	return out, err
}

// MarkCleaned records that the job's objects were deleted.
func (s *Store) MarkCleaned(ctx context.Context, seq int64, at time.Time) error {
	return s.db.WithContext(ctx).Model(&Job{}).Where("seq = ?", seq).Update("cleaned_at", at.UTC()).Error
}

// completeRequest runs inside the transaction that ended the job seq. When
// that job belongs to a request and no job of the request is unfinished any
// more, it records the request's completion and adds the event completed
// builds from the request's jobs (RequestJobs' view) — once per request:
// transactions ending jobs of one request take turns (an advisory lock on
// PostgreSQL, the single writer on SQLite), so the last of them sees the
// others' ends, and RequestCompletion's key keeps a second event out.
func (s *Store) completeRequest(tx *gorm.DB, seq int64, completed func(jobs []Job) *Event) error {
	if completed == nil {
		return nil
	}
	var job Job
	if err := tx.Select("organization, request_id, cluster").Where("seq = ?", seq).Take(&job).Error; err != nil {
		return err
	}
	if job.RequestID == "" {
		return nil
	}
	if s.driver == "postgres" {
		if err := tx.Exec("SELECT pg_advisory_xact_lock(7301166, hashtext(? || '/' || ?))", job.Organization, job.RequestID).Error; err != nil {
			return err
		}
	}
	var open int64
	if err := tx.Model(&Job{}).Where("organization = ? AND request_id = ? AND status IN ?", job.Organization, job.RequestID,
		[]JobStatus{JobQueued, JobRunning}).Count(&open).Error; err != nil {
		return err
	}
	if open > 0 {
		return nil
	}
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&RequestCompletion{Organization: job.Organization, RequestID: job.RequestID, CompletedAt: time.Now().UTC()})
	if res.Error != nil || res.RowsAffected == 0 {
		return res.Error // announced already
	}
	jobs, err := requestJobs(tx, job.Organization, job.RequestID)
	if err != nil {
		return err
	}
	if ev := completed(jobs); ev != nil {
		// The cluster of the job that ended last: delivered in that
		// cluster's order, the event follows that job's own end.
		ev.Cluster = job.Cluster
		return addEvent(tx, ev)
	}
	return nil
}
