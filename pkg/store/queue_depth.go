package store

import "context"

// QueueDepth is how many of a cluster's jobs are queued, and how many of
// those wait for the cluster to be reachable (Job.WaitReason).
type QueueDepth struct {
	Cluster string
	Queued  int64
	Waiting int64
}

// QueueDepths counts the queued and waiting jobs of every cluster that has
// any, by cluster: one grouped query over the jobs index (cluster, status),
// cheap enough for every scrape of /metrics.
func (s *Store) QueueDepths(ctx context.Context) ([]QueueDepth, error) {
	var rows []QueueDepth
	err := s.db.WithContext(ctx).Model(&Job{}).
		Select("cluster, COUNT(*) AS queued, SUM(CASE WHEN wait_reason <> '' THEN 1 ELSE 0 END) AS waiting").
		Where("status = ?", JobQueued).Group("cluster").Order("cluster").Scan(&rows).Error
	return rows, err
}
