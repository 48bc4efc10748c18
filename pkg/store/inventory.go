package store

import (
	"context"
	"errors"

	"gorm.io/gorm"
)

// Queries of pkg/observe (status polls and drift checks) and of drift
// correction in pkg/jobs. The last applied state of an application is its
// last succeeded apply job; what was last observed of it is its
// ApplicationState (applications.go).

// LastSucceededApply returns the newest succeeded apply job of (cluster,
// namespace, application): its manifests are the application's last applied
// state. ErrNotFound when there is none.
func (s *Store) LastSucceededApply(ctx context.Context, cluster, namespace, application string) (*Job, error) {
	var j Job
	err := s.db.WithContext(ctx).
		Where("cluster = ? AND namespace = ? AND application = ? AND action = ? AND status = ?", cluster, namespace, application, "apply", JobSucceeded).
		Order("seq DESC").Take(&j).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &j, nil
}

// LatestJob returns the newest job of (cluster, namespace, application),
// whatever its status. ErrNotFound when there is none.
func (s *Store) LatestJob(ctx context.Context, cluster, namespace, application string) (*Job, error) {
	var j Job
	err := s.db.WithContext(ctx).
		Where("cluster = ? AND namespace = ? AND application = ?", cluster, namespace, application).
		Order("seq DESC").Take(&j).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &j, nil
}

// AddEvents appends events to the outbox in one transaction.
func (s *Store) AddEvents(ctx context.Context, events ...*Event) error {
	if len(events) == 0 {
		return nil
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return addEvents(tx, events) })
}
