package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
)

// UISession is a web UI login, kept so that a restart of pushd does not
// end it. It is keyed by the SHA-256 of the session id (hex): the id
// itself, the cookie's secret, is never stored.
type UISession struct {
	IDHash       string `gorm:"primaryKey;size:64"`
	Organization string `gorm:"size:128;not null"`
	// CSRF is the session's anti-forgery token; worthless without the
	// session's cookie.
	CSRF      string    `gorm:"size:64;not null"`
	ExpiresAt time.Time `gorm:"index;not null"`
}

// addUISessions is migration 8.
func addUISessions(tx *gorm.DB) error { return tx.Migrator().CreateTable(&UISession{}) }

// SaveUISession records a session, and the login in the audit log when
// audit is not nil, in one transaction; it forgets every expired session
// (only logins create sessions, so this keeps the table bounded).
func (s *Store) SaveUISession(ctx context.Context, sess *UISession, audit *AuditEntry) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("expires_at <= ?", time.Now().UTC()).Delete(&UISession{}).Error; err != nil {
			return err
		}
		if err := tx.Create(sess).Error; err != nil {
			return err
		}
		if audit == nil {
			return nil
		}
		return appendAudit(tx, audit)
	})
}

// UISessionByHash returns a live session, or ErrNotFound.
func (s *Store) UISessionByHash(ctx context.Context, idHash string, now time.Time) (*UISession, error) {
	var sess UISession
	err := s.db.WithContext(ctx).Where("id_hash = ? AND expires_at > ?", idHash, now.UTC()).Take(&sess).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	return &sess, err
}

// DeleteUISession forgets a session (logout), and records the logout in the
// audit log when audit is not nil, in one transaction; an unknown session
// is no error.
func (s *Store) DeleteUISession(ctx context.Context, idHash string, audit *AuditEntry) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Where("id_hash = ?", idHash).Delete(&UISession{}).Error; err != nil {
			return err
		}
		if audit == nil {
			return nil
		}
		return appendAudit(tx, audit)
	})
}
