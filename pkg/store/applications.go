package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// ApplicationState is what pushd last observed of one application, and so
// what Odoo was last told of it: the baseline its next health or drift
// event is counted from. pkg/observe writes it in the same transaction as
// the events a change causes and reads it back at start, so a restart, a
// pruned outbox or a renamed event field never changes what is sent next.
type ApplicationState struct {
	Cluster     string `gorm:"primaryKey;size:63"`
	Namespace   string `gorm:"primaryKey;size:63"`
	Application string `gorm:"primaryKey;size:255"`
	// Health is the last observed aggregate kstatus; HealthChangedAt the
	// reading that first observed it.
	Health          string `gorm:"size:16"`
	HealthChangedAt time.Time
	// Drift is the last drift verdict that could tell ("in_sync" or
	// "drifted"; empty when never), DriftCheckedAt the check that gave it,
	// DriftObjects (JSON) the objects it found missing or drifted, and
	// CorrectionJob the job queued to correct that drift, if any.
	Drift          string `gorm:"size:16"`
	DriftCheckedAt time.Time
	DriftObjects   string `gorm:"type:text"`
	CorrectionJob  string `gorm:"size:64"`
}

// ApplicationStates lists a cluster's application states.
func (s *Store) ApplicationStates(ctx context.Context, cluster string) ([]ApplicationState, error) {
	var rows []ApplicationState
	err := s.db.WithContext(ctx).Where("cluster = ?", cluster).Order("namespace, application").Find(&rows).Error
	return rows, err
}

// SaveApplicationStates makes states the cluster's whole set of
// application states — applications absent from it are gone from the
// cluster and their rows are deleted — and appends the events the changes
// caused to the outbox, in one transaction.
func (s *Store) SaveApplicationStates(ctx context.Context, cluster string, states []ApplicationState, events ...*Event) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := checkFence(ctx, tx); err != nil {
			return err
		}
		if err := tx.Where("cluster = ?", cluster).Delete(&ApplicationState{}).Error; err != nil {
			return err
		}
		if len(states) > 0 {
			if err := tx.Create(&states).Error; err != nil {
				return err
			}
		}
		return addEvents(tx, events)
	})
}
