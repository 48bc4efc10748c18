package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// JobStatus is where a job is in its life (JobStatus in api/openapi.yaml).
type JobStatus string

// Job statuses.
const (
	JobQueued    JobStatus = "queued"
	JobRunning   JobStatus = "running"
	JobSucceeded JobStatus = "succeeded"
	JobFailed    JobStatus = "failed"
	JobCancelled JobStatus = "cancelled"
)

// TriggerDrift is the trigger of the jobs pushd queues itself to correct
// drift (Job.Trigger).
const TriggerDrift = "drift"

// ActionOperate is the action of an operate job (Job.Action): its objects
// live in an inventory of their own and are no intent of its application.
const ActionOperate = "operate"

// Job is one unit of work on one application of one cluster. Seq orders jobs
// by submission; (Organization, ID) is Odoo's id for it.
type Job struct {
	Seq          int64  `gorm:"primaryKey;autoIncrement"`
	Organization string `gorm:"uniqueIndex:idx_jobs_org_id;size:128;not null"`
	ID           string `gorm:"uniqueIndex:idx_jobs_org_id;size:128;not null"`
	Cluster      string `gorm:"index:idx_jobs_claim,priority:1;size:63;not null"`
	// ClusterUID is the generation of the cluster's record the job was
	// accepted for (Cluster.UID): what a job, its drift reference and its
	// application view belong to.
	ClusterUID  string `gorm:"index;size:36"`
	Namespace   string `gorm:"size:63;not null"`
	Application string `gorm:"size:63;not null"`
	RequestID   string `gorm:"index;size:128"`
	Engine      string `gorm:"size:64"`
	Type        string `gorm:"size:64"`
	Action      string `gorm:"size:16;not null"`
	Trigger     string `gorm:"size:32"` // "odoo", or what pushd itself queued it for (e.g. drift correction)
	Manifests   string `gorm:"type:text"`
	// ManifestDigest is the SHA-256 of the manifests as stored; empty for
	// jobs stored before migration 15.
	ManifestDigest string `gorm:"size:64"`
	// SourceJob is the job a rollback put back (its trigger is rollback).
	SourceJob       string `gorm:"size:128"`
	ContentHash     string `gorm:"size:64"`
	TimeoutSeconds  int
	Status          JobStatus `gorm:"index:idx_jobs_claim,priority:2;size:16;not null"`
	ErrorCode       string    `gorm:"size:64"`
	ErrorMessage    string    `gorm:"type:text"`
	Objects         string    `gorm:"type:text"` // JSON array of per-object results
	CancelRequested bool
	// Intent is set when the job passed its preflight: it may have written,
	// so it is Odoo's latest intent for its application (LatestIntent).
	Intent bool `gorm:"not null;default:false"`
	// WaitReason says why a queued job is not running (its cluster is
	// unreachable), since WaitingSince; empty when it is not waiting.
	WaitReason   string `gorm:"type:text"`
	WaitingSince *time.Time
	// Retries (JSON) are the transient failures a run retried.
	Retries string `gorm:"type:text"`
	// NextAttemptAt is when a queued job put back after a transient
	// failure is claimed again; nil when it may be claimed now.
	NextAttemptAt *time.Time
	// Attempt fences workers: each claim increments it, and a worker may
	// only write a job whose attempt is still the one it claimed.
	Attempt int
	// Result (JSON) is what an operate job's operation reported: its
	// outcome, outputs and conditions; empty for other jobs.
	Result string `gorm:"type:text"`
	// CleanupAfter is when a finished operate job's objects are deleted
	// (its type's time to live); CleanedAt when they were.
	CleanupAfter   *time.Time `gorm:"index"`
	CleanedAt      *time.Time
	LeaseOwner     string `gorm:"size:128"`
	LeaseExpiresAt *time.Time
	CreatedAt      time.Time
	StartedAt      *time.Time
	FinishedAt     *time.Time
	UpdatedAt      time.Time
}

// Terminal reports whether the job has reached its final status.
func (j *Job) Terminal() bool {
	return j.Status == JobSucceeded || j.Status == JobFailed || j.Status == JobCancelled
}

// ErrJobExists is returned by CreateJob when (organization, id) exists; the
// existing job comes with it.
var ErrJobExists = errors.New("job id exists")

// ErrFenced is returned when a worker's claim on a job is no longer current:
// another attempt took the job over, or it was cancelled.
var ErrFenced = errors.New("job claim is stale")

// CreateJob stores a new queued job and its events in one transaction,
// shared with concurrent intake writes (see groupCommit): the job is durable
// when CreateJob returns, but many submissions share one fsync.
func (s *Store) CreateJob(ctx context.Context, j *Job, events ...*Event) (*Job, error) {
	var existing Job
	err := s.group.run(ctx, s.db, func(tx *gorm.DB) error {
		if err := checkFence(ctx, tx); err != nil { // a correction asked for under a cluster lease
			return err
		}
		err := tx.Where("organization = ? AND id = ?", j.Organization, j.ID).Take(&existing).Error
		if err == nil {
			return ErrJobExists
		}
		if !errors.Is(err, gorm.ErrRecordNotFound) {
			return err
		}
		if err := tx.Create(j).Error; err != nil {
			return err
		}
		return addEvents(tx, events)
	})
	if errors.Is(err, ErrJobExists) {
		return &existing, err
	}
	if err != nil && isUniqueViolation(err) {
		if e2 := s.db.WithContext(ctx).Where("organization = ? AND id = ?", j.Organization, j.ID).Take(&existing).Error; e2 == nil {
			return &existing, ErrJobExists
		}
	}
	return j, err
}

// GetJob returns a job of an organization (any when empty), or ErrNotFound.
func (s *Store) GetJob(ctx context.Context, organization, id string) (*Job, error) {
	q := s.db.WithContext(ctx).Where("id = ?", id)
	if organization != "" {
		q = q.Where("organization = ?", organization)
	}
	var j Job
	if err := q.Take(&j).Error; errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, err
	}
	return &j, nil
}

// JobFilter selects jobs for ListJobs. Empty fields match everything.
type JobFilter struct {
	Organization, Cluster, RequestID string
	// Namespace, Application, Trigger and Action narrow further (the UI's
	// filters); ClusterUID to one record generation.
	Namespace, Application, Trigger, Action, ClusterUID string
	Status                                              JobStatus
	// BeforeSeq pages: only jobs submitted before this one (0: from the newest).
	BeforeSeq int64
	Limit     int
}

// ListJobs returns jobs newest first.
func (s *Store) ListJobs(ctx context.Context, f JobFilter) ([]Job, error) {
	q := s.db.WithContext(ctx).Order("seq DESC").Limit(f.Limit)
	for col, v := range map[string]string{"organization": f.Organization, "cluster": f.Cluster, "request_id": f.RequestID, "status": string(f.Status),
		"namespace": f.Namespace, "application": f.Application, "trigger": f.Trigger, "action": f.Action, "cluster_uid": f.ClusterUID} {
		if v != "" {
			q = q.Where(col+" = ?", v)
		}
	}
	if f.BeforeSeq > 0 {
		q = q.Where("seq < ?", f.BeforeSeq)
	}
	var jobs []Job
	return jobs, q.Find(&jobs).Error
}

// RecentJobs returns, in one query, the newest perCluster jobs of each of an
// organization's clusters, newest first within a cluster: what a fleet view
// needs without a query per cluster.
func (s *Store) RecentJobs(ctx context.Context, organization string, perCluster int) ([]Job, error) {
	db := s.db.WithContext(ctx)
	ranked := db.Table("jobs").Select("seq, ROW_NUMBER() OVER (PARTITION BY cluster ORDER BY seq DESC) AS rn").
		Where("organization = ?", organization)
	newest := db.Table("(?) AS ranked", ranked).Select("seq").Where("rn <= ?", perCluster)
	var jobs []Job
	return jobs, db.Where("seq IN (?)", newest).Order("cluster, seq DESC").Find(&jobs).Error
}

// ClaimJob takes the oldest runnable job of cluster for owner, or returns nil.
// A job is runnable when it is queued, or running with an expired lease (its
// worker died), and no older job of the same application is still queued or
// running: jobs of one application run one at a time in submission order.
// The claim increments the job's attempt, which fences out the previous worker.
func (s *Store) ClaimJob(ctx context.Context, cluster, owner string, now time.Time, lease time.Duration) (*Job, error) {
	var claimed *Job
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Only jobs no older job of their application waits before: a long
		// backlog of one application never hides another's runnable job.
		var candidates []Job
		err := tx.Where("cluster = ? AND ((status = ? AND (next_attempt_at IS NULL OR next_attempt_at <= ?)) OR (status = ? AND lease_expires_at < ?))",
			cluster, JobQueued, now, JobRunning, now).
			Where(`NOT EXISTS (SELECT 1 FROM jobs o WHERE o.cluster = jobs.cluster AND o.namespace = jobs.namespace
				AND o.application = jobs.application AND o.seq < jobs.seq AND o.status IN ?)`, []JobStatus{JobQueued, JobRunning}).
			Order("seq").Limit(8).Find(&candidates).Error
		if err != nil {
			return err
		}
		for _, c := range candidates {
			expires := now.Add(lease)
			updates := map[string]any{"status": JobRunning, "attempt": c.Attempt + 1, "lease_owner": owner, "lease_expires_at": expires,
				"updated_at": now, "wait_reason": "", "waiting_since": nil, "next_attempt_at": nil}
			if c.StartedAt == nil {
				updates["started_at"] = now
			}
			res := tx.Model(&Job{}).Where("seq = ? AND attempt = ? AND status = ?", c.Seq, c.Attempt, c.Status).Updates(updates)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 1 {
				return tx.Where("seq = ?", c.Seq).Take(&claimed).Error
			}
		}
		return nil
	})
	return claimed, err
}

// ClustersWithWork lists the clusters that have queued jobs or running jobs
// whose lease expired.
func (s *Store) ClustersWithWork(ctx context.Context, now time.Time) ([]string, error) {
	var out []string
	err := s.db.WithContext(ctx).Model(&Job{}).
		Where("(status = ? AND (next_attempt_at IS NULL OR next_attempt_at <= ?)) OR (status = ? AND lease_expires_at < ?)", JobQueued, now, JobRunning, now).
		Distinct("cluster").Pluck("cluster", &out).Error
	return out, err
}

// RunningJobs counts the running jobs of a cluster whose lease is current.
func (s *Store) RunningJobs(ctx context.Context, cluster string, now time.Time) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Job{}).Where("cluster = ? AND status = ? AND lease_expires_at >= ?", cluster, JobRunning, now).Count(&n).Error
	return n, err
}

// Claim is a worker's hold on a running job: its row and the attempt it was
// claimed with. A verb taking a Claim acts only while that attempt is still
// the job's current one and the job is running; otherwise ErrFenced.
type Claim struct {
	Seq     int64
	Attempt int
}

// Outcome is how a job ended.
type Outcome struct {
	Status       JobStatus // JobSucceeded, JobFailed or JobCancelled
	ErrorCode    string
	ErrorMessage string
	Objects      string // JSON array of per-object results
	At           time.Time
	// Intent: the job passed its preflight (Job.Intent).
	Intent bool
	// Retries (JSON) are the transient failures the run retried.
	Retries string
	// Result (JSON) is an operate job's result; CleanupAfter when its
	// objects are to be deleted (nil: never, or not an operate job).
	Result       string
	CleanupAfter *time.Time
	// RequestCompleted, when set, builds the request.completed event of the
	// job's request if this end leaves none of its jobs unfinished; it is
	// called with the request's jobs inside the transaction (completeRequest).
	RequestCompleted func(jobs []Job) *Event
}

// StartJob records that the claimed job started, with its events.
func (s *Store) StartJob(ctx context.Context, c Claim, at time.Time, events ...*Event) error {
	return s.updateClaimed(ctx, c, map[string]any{"updated_at": at}, events)
}

// RenewLease extends the claimed job's lease until until.
func (s *Store) RenewLease(ctx context.Context, c Claim, until time.Time) error {
	return s.updateClaimed(ctx, c, map[string]any{"lease_expires_at": until}, nil)
}

// FinishJob records the claimed job's outcome and releases its lease, with
// its events.
func (s *Store) FinishJob(ctx context.Context, c Claim, o Outcome, events ...*Event) error {
	updates := map[string]any{
		"status": o.Status, "error_code": o.ErrorCode, "error_message": o.ErrorMessage, "objects": o.Objects,
		"intent": gorm.Expr("intent OR ?", o.Intent), "retries": o.Retries, "finished_at": o.At, "updated_at": o.At, "lease_owner": "", "lease_expires_at": nil,
		"cleanup_after": o.CleanupAfter,
	}
	if o.Result != "" {
		updates["result"] = o.Result
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := claimed(tx, c, updates, events); err != nil {
			return err
		}
		return s.completeRequest(tx, c.Seq, o.RequestCompleted)
	})
}

func (s *Store) updateClaimed(ctx context.Context, c Claim, updates map[string]any, events []*Event) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return claimed(tx, c, updates, events) })
}

// claimed applies updates to the claimed job, with its events; ErrFenced
// when the claim is not current.
func claimed(tx *gorm.DB, c Claim, updates map[string]any, events []*Event) error {
	res := tx.Model(&Job{}).Where("seq = ? AND attempt = ? AND status = ?", c.Seq, c.Attempt, JobRunning).Updates(updates)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return ErrFenced
	}
	return addEvents(tx, events)
}

// CancelQueued ends a job that is still queued as cancelled, with why (the
// outcome's error code and message) and its events; ok is false when the
// job was no longer queued.
func (s *Store) CancelQueued(ctx context.Context, seq int64, why Outcome, events ...*Event) (ok bool, err error) {
	return s.updateQueued(ctx, "TRUE", seq, map[string]any{
		"status": JobCancelled, "finished_at": why.At, "updated_at": why.At, "cancel_requested": true,
		"error_code": why.ErrorCode, "error_message": why.ErrorMessage, "cleanup_after": why.CleanupAfter,
	}, why.RequestCompleted, events)
}

// RequestCancel marks a running job so its worker stops waiting.
func (s *Store) RequestCancel(ctx context.Context, seq int64) error {
	return s.db.WithContext(ctx).Model(&Job{}).Where("seq = ? AND status = ?", seq, JobRunning).Update("cancel_requested", true).Error
}

func addEvents(tx *gorm.DB, events []*Event) error {
	for _, e := range events {
		if err := addEvent(tx, e); err != nil {
			return err
		}
	}
	return nil
}

// CountQueued counts a cluster's jobs waiting to run.
func (s *Store) CountQueued(ctx context.Context, cluster string) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Model(&Job{}).Where("cluster = ? AND status = ?", cluster, JobQueued).Count(&n).Error
	return n, err
}
