package store

import (
	"context"

	"gorm.io/gorm"
)

// Queries of pkg/observe (status polls and drift checks) and of drift
// correction in pkg/jobs. The desired state of an application is its
// latest intent (LatestIntent, generations.go); what was last observed of
// it is its ApplicationState (applications.go).

// AddEvents appends events to the outbox in one transaction.
func (s *Store) AddEvents(ctx context.Context, events ...*Event) error {
	if len(events) == 0 {
		return nil
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := checkFence(ctx, tx); err != nil {
			return err
		}
		return addEvents(tx, events)
	})
}
