package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// Parking: an event the receiver keeps refusing is set aside so that the
// events after it keep flowing.
//
// Only the head of a cluster — its oldest undelivered, unparked event — is
// claimable (see ClaimEvents), so one event that can never be delivered would
// otherwise hold back every later event of its cluster for ever. The
// deliverer parks such an event once its attempt budget is spent; a parked
// event is kept, listed (ParkedEvents) and sent again only on request
// (ResendEvent), when it becomes its cluster's head again at once because it
// is older than everything still pending.

// eventParking names the column migration 6 adds to the events table. Its
// body is part of that migration: it never changes once released.
type eventParking struct {
	// ParkedAt is when the deliverer gave up on the event; nil while it is
	// pending or once delivered.
	ParkedAt *time.Time
}

func (eventParking) TableName() string { return "events" }

// addEventParking is migration 6: the parked_at column, and the pending
// index rebuilt so that parked events are not part of it.
func addEventParking(tx *gorm.DB) error {
	if err := tx.Migrator().AddColumn(&eventParking{}, "ParkedAt"); err != nil {
		return err
	}
	if err := tx.Exec("DROP INDEX idx_events_pending").Error; err != nil {
		return err
	}
	if err := tx.Exec("CREATE INDEX idx_events_pending ON events (cluster, seq) WHERE delivered_at IS NULL AND parked_at IS NULL").Error; err != nil {
		return err
	}
	return tx.Exec("CREATE INDEX idx_events_parked ON events (organization, seq) WHERE parked_at IS NOT NULL").Error
}

// ParkedEvent is an event the deliverer gave up on, with when and why.
type ParkedEvent struct {
	Event    `gorm:"embedded"`
	ParkedAt time.Time
}

// ErrEventNotParked is returned by ResendEvent for an event that does not
// exist, belongs to another organization, or is not parked.
var ErrEventNotParked = errors.New("no such parked event")

// MarkEventParked records a failed attempt that spent the event's budget:
// the event is set aside (no next attempt) and the claim ends. Like
// MarkEventFailed it applies only while owner still holds the claim.
func (s *Store) MarkEventParked(ctx context.Context, seq int64, owner string, at time.Time, lastError string) (owned bool, err error) {
	return s.endFailedAttempt(ctx, seq, owner, lastError, "parked_at", at)
}

// ParkedEvents lists an organization's parked events, oldest first, after
// the sequence number after (0 for the first page), at most limit.
func (s *Store) ParkedEvents(ctx context.Context, organization string, after int64, limit int) ([]ParkedEvent, error) {
	var es []ParkedEvent
	err := s.db.WithContext(ctx).Table("events").
		Where("organization = ? AND parked_at IS NOT NULL AND delivered_at IS NULL AND seq > ?", organization, after).
		Order("seq").Limit(limit).Find(&es).Error
	return es, err
}

// CountParkedEvents counts the parked events of every organization.
func (s *Store) CountParkedEvents(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.WithContext(ctx).Table("events").Where("parked_at IS NOT NULL AND delivered_at IS NULL").Count(&n).Error
	return n, err
}

// ResendEvent puts the organization's parked event id back in its cluster's
// queue with a fresh attempt budget, due at once. It returns the event, or
// ErrEventNotParked.
func (s *Store) ResendEvent(ctx context.Context, organization, id string, now time.Time) (*Event, error) {
	var e Event
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Table("events").
			Where("id = ? AND organization = ? AND parked_at IS NOT NULL AND delivered_at IS NULL", id, organization).
			Updates(map[string]any{"parked_at": nil, "attempts": 0, "next_attempt_at": now.UTC()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrEventNotParked
		}
		return tx.Where("id = ?", id).Take(&e).Error
	})
	if err != nil {
		return nil, err
	}
	return &e, nil
}
