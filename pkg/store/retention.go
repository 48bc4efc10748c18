package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// Retention: finished jobs are kept for a while (the API, the UI and the
// CLI show them; Odoo may ask about a job again), then pruned whole —
// row, manifests, per-object results — by PruneJobs. Pruning the row, not
// only emptying its manifests, is what bounds the database; the cost is
// that a job id is remembered (and a resubmission of it answered with the
// stored job) only for the retention, which is far past the 48 hours the
// contract remembers webhook ids for and any retry horizon of Odoo's.
//
// What the system still needs is never pruned, however old:
//   - each application's latest intent (LatestIntent) while its record
//     exists: its manifests are the drift reference and what a drift
//     correction re-applies; pruning it would make drift compare against
//     nothing. Older intents, and a deleted record's, are nobody's
//     reference.
//   - a job with an undelivered event in the outbox (pending or parked):
//     Odoo has not heard how it ended yet, and a parked event's job is
//     what an operator looks at before re-sending it.
//   - queued and running jobs (only finished ones are pruned).
//
// A request (GET /api/v1/requests/{id}) lists the jobs still kept: once
// its jobs are pruned, the request is unknown (404) like any other.

// pruneBatch bounds one delete, so a first sweep over a long history
// holds no lock for long.
const pruneBatch = 500

// PruneJobs deletes the jobs that finished before before and that nothing
// still needs (see above); it returns how many.
func (s *Store) PruneJobs(ctx context.Context, before time.Time) (int64, error) {
	db := s.db.WithContext(ctx)
	var total int64
	for {
		var seqs []int64
		err := prunable(db.Table("jobs").Select("seq"), before).Order("seq").Limit(pruneBatch).Pluck("seq", &seqs).Error
		if err != nil || len(seqs) == 0 {
			return total, err
		}
		// The same conditions again at delete time: a job that became
		// needed since the read (an event about it was added) stays.
		res := prunable(db.Where("seq IN ?", seqs), before).Delete(&Job{})
		if res.Error != nil {
			return total, res.Error
		}
		total += res.RowsAffected
		if len(seqs) < pruneBatch {
			return total, nil
		}
	}
}

// prunable narrows q to the jobs PruneJobs may delete.
func prunable(q *gorm.DB, before time.Time) *gorm.DB {
	return q.Where("jobs.status IN ? AND jobs.finished_at < ?", []JobStatus{JobSucceeded, JobFailed, JobCancelled}, before.UTC()).
		// Not the latest intent of an application of a live record.
		Where(`NOT (jobs.intent = ? AND EXISTS (SELECT 1 FROM clusters WHERE clusters.uid = jobs.cluster_uid)
			AND NOT EXISTS (SELECT 1 FROM jobs n WHERE n.cluster_uid = jobs.cluster_uid AND n.namespace = jobs.namespace
				AND n.application = jobs.application AND n.intent = ? AND n.seq > jobs.seq))`, true, true).
		// Not an operation whose objects are still to be deleted: the
		// job is what the cleanup finds them by.
		Where("NOT (jobs.cleanup_after IS NOT NULL AND jobs.cleaned_at IS NULL)").
		// No undelivered event about it: a job's events carry its JSON,
		// whose "id" is the job's (ids are [A-Za-z0-9._:-], so JSON does
		// not escape them; a "_" in an id is LIKE's one-character
		// wildcard, which can only match more events: a job is kept
		// longer, never pruned early).
		Where(`NOT EXISTS (SELECT 1 FROM events WHERE events.delivered_at IS NULL AND events.cluster = jobs.cluster
			AND events.organization = jobs.organization AND events.data LIKE '%"id":"' || jobs.id || '"%')`)
}
