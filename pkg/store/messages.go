package store

import (
	"context"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Message remembers a signed write by its webhook-id, so a retry gets the
// original outcome instead of acting twice.
type Message struct {
	Organization string `gorm:"primaryKey;size:128"`
	ID           string `gorm:"primaryKey;size:256"`
	BodyHash     string `gorm:"size:64;not null"`
	// Status is 0 while the first request is still being handled.
	Status      int
	ContentType string
	Response    []byte
	CreatedAt   time.Time `gorm:"index"`
}

// staleInProgress is how long a message may stay in progress before a retry
// takes it over; far longer than any request pushd answers.
const staleInProgress = 2 * time.Minute

// ErrMessageExists is returned by BeginMessage for an id seen before; the
// stored message comes with it.
var ErrMessageExists = errors.New("message id seen before")

// BeginMessage records a message as in progress, in a commit shared with
// concurrent intake writes. If the id was seen before it returns the stored
// message and ErrMessageExists, and records nothing.
func (s *Store) BeginMessage(ctx context.Context, m *Message) (*Message, error) {
	var existing Message
	err := s.group.run(ctx, s.db, func(tx *gorm.DB) error {
		err := tx.Where("organization = ? AND id = ?", m.Organization, m.ID).Take(&existing).Error
		if err == nil && existing.Status == 0 && existing.CreatedAt.Before(time.Now().Add(-staleInProgress)) {
			// Its first handler died (crash, panic) without an outcome:
			// take the message over rather than answer 409 until it is pruned.
			if err := tx.Where("organization = ? AND id = ? AND status = 0", m.Organization, m.ID).Delete(&Message{}).Error; err != nil {
				return err
			}
			return tx.Create(m).Error
		}
		if err == nil {
			return ErrMessageExists
		}
		if !errors.Is(err, gorm.ErrRecordNotFound) {
			return err
		}
		return tx.Create(m).Error
	})
	if errors.Is(err, ErrMessageExists) {
		return &existing, err
	}
	if err != nil && isUniqueViolation(err) { // a concurrent request won the insert
		if e2 := s.db.WithContext(ctx).Where("organization = ? AND id = ?", m.Organization, m.ID).Take(&existing).Error; e2 == nil {
			return &existing, ErrMessageExists
		}
	}
	return nil, err
}

// FinishMessage stores the outcome of a message begun with BeginMessage, in
// a commit shared with concurrent intake writes.
func (s *Store) FinishMessage(ctx context.Context, organization, id string, status int, contentType string, response []byte) error {
	return s.group.run(ctx, s.db, func(tx *gorm.DB) error {
		return tx.Model(&Message{}).Where("organization = ? AND id = ?", organization, id).
			Updates(map[string]any{"status": status, "content_type": contentType, "response": response}).Error
	})
}

// ForgetMessage drops a message whose handling failed for reasons of pushd's
// own (5xx), so the sender's retry is acted on.
func (s *Store) ForgetMessage(ctx context.Context, organization, id string) error {
	return s.db.WithContext(ctx).Where("organization = ? AND id = ?", organization, id).Delete(&Message{}).Error
}

// ForgetUnfinishedMessages drops every message still in progress, so the
// sender's retry is acted on, and returns how many it dropped. Only a
// process that is the database's one user may call it, as it starts (pushd
// on SQLite): then no message is still being handled, each is one a killed
// predecessor began.
func (s *Store) ForgetUnfinishedMessages(ctx context.Context) (int64, error) {
	res := s.db.WithContext(ctx).Where("status = 0").Delete(&Message{})
	return res.RowsAffected, res.Error
}

// PruneMessages deletes messages older than before; it returns how many.
func (s *Store) PruneMessages(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("created_at < ?", before).Delete(&Message{})
	return res.RowsAffected, res.Error
}

func isUniqueViolation(err error) bool {
	return errors.Is(err, gorm.ErrDuplicatedKey) || containsAny(err.Error(), "UNIQUE constraint failed", "duplicate key value", "SQLSTATE 23505")
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
