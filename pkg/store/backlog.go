package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// OutboxBacklog counts the events still waiting for delivery — neither
// delivered nor parked — and returns the creation time of the oldest (zero
// when none). Together they tell "callbacks are backing up" from a busy but
// flowing outbox: the count can be high for a moment, the age only grows
// when nothing is delivered.
func (s *Store) OutboxBacklog(ctx context.Context) (n int64, oldest time.Time, err error) {
	pending := func() *gorm.DB {
		return s.db.WithContext(ctx).Table("events").Where("delivered_at IS NULL AND parked_at IS NULL")
	}
	if err := pending().Count(&n).Error; err != nil || n == 0 {
		return n, time.Time{}, err
	}
	var e Event
	err = pending().Select("created_at").Order("created_at, seq").Limit(1).Take(&e).Error
	if errors.Is(err, gorm.ErrRecordNotFound) { // delivered since the count
		return 0, time.Time{}, nil
	}
	return n, e.CreatedAt.UTC(), err
}
