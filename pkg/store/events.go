package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// Event is something pushd tells Odoo: a row of the transactional outbox.
// It is written in the same transaction as the change it reports, and the
// delivery loop sends it (at least once, with its ID as webhook-id).
type Event struct {
	Seq          int64  `gorm:"primaryKey;autoIncrement"`
	ID           string `gorm:"uniqueIndex;size:64;not null"`
	Type         string `gorm:"size:64;not null"`
	Organization string `gorm:"size:128;not null"`
	Cluster      string `gorm:"index;size:63"`
	// ClusterUID is the generation of the cluster's record the event is
	// about; addEvent fills it from the record when the producer did not.
	ClusterUID string `gorm:"size:36"`
	Data       string `gorm:"type:text"` // JSON
	CreatedAt  time.Time
	// Delivery state.
	DeliveredAt   *time.Time `gorm:"index"`
	Attempts      int
	NextAttemptAt time.Time `gorm:"index"`
	LastError     string    `gorm:"type:text"`
}

// AddEvent appends an event to the outbox.
func (s *Store) AddEvent(ctx context.Context, e *Event) error {
	return addEvent(s.db.WithContext(ctx), e)
}

func addEvent(tx *gorm.DB, e *Event) error {
	if e.NextAttemptAt.IsZero() {
		e.NextAttemptAt = time.Now().UTC()
	}
	if e.Cluster != "" && e.ClusterUID == "" {
		var uids []string
		if err := tx.Model(&Cluster{}).Where("id = ? AND organization = ?", e.Cluster, e.Organization).Pluck("uid", &uids).Error; err != nil {
			return err
		}
		if len(uids) == 1 {
			e.ClusterUID = uids[0]
		}
	}
	return tx.Create(e).Error
}

// Events lists the newest events of a cluster (all clusters when empty),
// newest first. A cluster's events are those of its record's current
// generation (without a record, those bound to none): an id deleted and
// registered again shows none of the old record's.
func (s *Store) Events(ctx context.Context, cluster string, limit int) ([]Event, error) {
	q := s.db.WithContext(ctx).Order("seq DESC").Limit(limit)
	if cluster != "" {
		q = q.Where("cluster = ? AND COALESCE(cluster_uid, '') = COALESCE((SELECT uid FROM clusters WHERE id = ?), '')", cluster, cluster)
	}
	var es []Event
	return es, q.Find(&es).Error
}

// PruneUnsentEvents deletes events created before before whether delivered
// or not: with callbacks off nothing delivers them, and they are kept only
// for the history pages.
func (s *Store) PruneUnsentEvents(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("created_at < ?", before.UTC()).Delete(&Event{})
	return res.RowsAffected, res.Error
}
