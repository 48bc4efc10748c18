package store

import (
	"cmp"
	"context"
	"slices"

	"gorm.io/gorm"
)

// RequestJobs returns the jobs of an organization's request, in one query:
// of each (cluster, namespace, application) the newest job with that
// request id — a resubmission under a new job id replaces the earlier one —
// ordered by cluster, namespace and application (byte order, the same on
// every database). Manifests, Objects and Retries are left empty: a view of
// many jobs needs none of them. None when no job has the request id.
func (s *Store) RequestJobs(ctx context.Context, organization, requestID string) ([]Job, error) {
	if requestID == "" {
		return nil, nil // jobs without a request are no request
	}
	return requestJobs(s.db.WithContext(ctx), organization, requestID)
}

func requestJobs(db *gorm.DB, organization, requestID string) ([]Job, error) {
	ranked := db.Table("jobs").
		Select("seq, ROW_NUMBER() OVER (PARTITION BY cluster, namespace, application ORDER BY seq DESC) AS rn").
		Where("organization = ? AND request_id = ?", organization, requestID)
	newest := db.Table("(?) AS ranked", ranked).Select("seq").Where("rn = 1")
	var jobs []Job
	if err := db.Omit("manifests", "objects", "retries").Where("seq IN (?)", newest).Find(&jobs).Error; err != nil {
		return nil, err
	}
	slices.SortFunc(jobs, func(a, b Job) int {
		return cmp.Or(cmp.Compare(a.Cluster, b.Cluster), cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Application, b.Application))
	})
	return jobs, nil
}
