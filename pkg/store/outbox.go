package store

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// The outbox's delivery side: claiming due events, recording the outcome of
// an attempt, pruning what was delivered long ago.
//
// Claims are leases kept in the events table itself (claim_owner,
// claim_expires_at), taken with a conditional UPDATE whose WHERE clause
// repeats what made the event claimable. Both databases let exactly one of
// several concurrent UPDATEs of a row match it — PostgreSQL re-checks the
// WHERE clause on the row version a waiting UPDATE finally sees, SQLite has a
// single writer — so the same statements are safe for several replicas on
// PostgreSQL and need no driver-specific code (no SELECT … FOR UPDATE SKIP
// LOCKED, which SQLite lacks). A lease, unlike a row lock, outlives the
// transaction: it covers the HTTP call without holding a transaction open
// across it, and it lapses by itself when its owner dies.
//
// Only the head of a cluster — its oldest undelivered event that is not
// parked (see parked.go) — is ever claimable. That is what keeps a cluster's
// events in order across replicas: the next event becomes the head only once
// the previous one is delivered or parked.
// (Order is that of Seq among committed events; events one writer records one
// after the other, such as a job's transitions, are delivered in the order
// they were written.)

// eventClaim names the lease columns migration 4 adds to the events table.
// Its body is part of that migration: it never changes once released.
type eventClaim struct {
	// ClaimOwner is the deliverer sending the event now; empty when none.
	ClaimOwner string `gorm:"size:64;not null;default:''"`
	// ClaimExpiresAt ends the claim; past it, another deliverer may take the
	// event (the owner is presumed dead).
	ClaimExpiresAt *time.Time
}

func (eventClaim) TableName() string { return "events" }

// addEventClaims is migration 4: the lease columns, and an index of the
// undelivered events by cluster and sequence, which is all a claim reads.
// Partial indexes are written the same way in SQLite and PostgreSQL.
func addEventClaims(tx *gorm.DB) error {
	for _, field := range []string{"ClaimOwner", "ClaimExpiresAt"} {
		if err := tx.Migrator().AddColumn(&eventClaim{}, field); err != nil {
			return err
		}
	}
	return tx.Exec("CREATE INDEX idx_events_pending ON events (cluster, seq) WHERE delivered_at IS NULL").Error
}

// EventClaim asks ClaimEvents for due events.
type EventClaim struct {
	// Owner identifies the claiming deliverer; unique per process.
	Owner string
	// Now is the claimant's clock: events due at or before it are claimed,
	// and claims that ended at or before it are taken over.
	Now time.Time
	// Lease is how long the claim holds.
	Lease time.Duration
	// Limit bounds how many events are claimed (so also how many clusters).
	Limit int
	// Clusters restricts the claim to these clusters; nil means any.
	Clusters []string
	// Exclude skips these clusters (the claimant is already busy with them).
	Exclude []string
}

// ClaimEvents claims up to c.Limit events, each the oldest undelivered event
// of its cluster, that are due and not claimed by a live owner, oldest first.
// An event comes back only if this call's conditional update won it.
func (s *Store) ClaimEvents(ctx context.Context, c EventClaim) ([]Event, error) {
	now := c.Now.UTC()
	db := s.db.WithContext(ctx)
	heads := db.Table("events").Select("cluster, MIN(seq) AS seq").Where("delivered_at IS NULL AND parked_at IS NULL").Group("cluster")
	if c.Clusters != nil {
		heads = heads.Where("cluster IN ?", c.Clusters)
	}
	if len(c.Exclude) > 0 {
		heads = heads.Where("cluster NOT IN ?", c.Exclude)
	}
	var candidates []Event
	err := db.Table("events").Select("events.*").
		Joins("JOIN (?) heads ON heads.seq = events.seq", heads).
		Where("events.next_attempt_at <= ?", now).
		Where("(events.claim_expires_at IS NULL OR events.claim_expires_at <= ?)", now).
		Order("events.seq").Limit(c.Limit).
		Find(&candidates).Error
	if err != nil {
		return nil, err
	}
	until := now.Add(c.Lease)
	claimed := candidates[:0]
	for _, e := range candidates {
		// attempts = ? makes the update lose to any outcome recorded since
		// the read, so the returned row is exactly the row claimed.
		res := db.Table("events").
			Where("seq = ? AND attempts = ? AND delivered_at IS NULL AND parked_at IS NULL AND next_attempt_at <= ?", e.Seq, e.Attempts, now).
			Where("(claim_expires_at IS NULL OR claim_expires_at <= ?)", now).
			Updates(map[string]any{"claim_owner": c.Owner, "claim_expires_at": until})
		if res.Error != nil {
			return claimed, res.Error
		}
		if res.RowsAffected == 1 {
			claimed = append(claimed, e)
		}
	}
	return claimed, nil
}

// MarkEventDelivered records a successful attempt and ends the claim. It
// applies whoever holds the claim: the receiver has the event, whatever
// happened to the lease meanwhile.
func (s *Store) MarkEventDelivered(ctx context.Context, seq int64, at time.Time) error {
	return s.db.WithContext(ctx).Table("events").
		Where("seq = ? AND delivered_at IS NULL", seq).
		Updates(map[string]any{
			"delivered_at":     at.UTC(),
			"attempts":         gorm.Expr("attempts + 1"),
			"last_error":       "",
			"claim_owner":      "",
			"claim_expires_at": nil,
		}).Error
}

// MarkEventFailed records a failed attempt, schedules the next one and ends
// the claim. It applies only while owner still holds the claim; owned
// reports whether it did (if not, the lease lapsed and another deliverer
// took the event over and records its own outcome).
func (s *Store) MarkEventFailed(ctx context.Context, seq int64, owner string, next time.Time, lastError string) (owned bool, err error) {
	return s.endFailedAttempt(ctx, seq, owner, lastError, "next_attempt_at", next)
}

// endFailedAttempt records a failed attempt of the event owner holds — its
// count and error, then column set to at (its next attempt, or when it was
// parked) — and ends the claim; owned reports whether owner still held it.
func (s *Store) endFailedAttempt(ctx context.Context, seq int64, owner, lastError, column string, at time.Time) (owned bool, err error) {
	res := s.db.WithContext(ctx).Table("events").
		Where("seq = ? AND claim_owner = ? AND delivered_at IS NULL", seq, owner).
		Updates(map[string]any{
			"attempts":         gorm.Expr("attempts + 1"),
			column:             at.UTC(),
			"last_error":       lastError,
			"claim_owner":      "",
			"claim_expires_at": nil,
		})
	return res.RowsAffected == 1, res.Error
}

// ReleaseEvent ends owner's claim without recording an attempt, so another
// deliverer may take the event at once (used when shutting down mid-send).
func (s *Store) ReleaseEvent(ctx context.Context, seq int64, owner string) error {
	return s.db.WithContext(ctx).Table("events").
		Where("seq = ? AND claim_owner = ?", seq, owner).
		Updates(map[string]any{"claim_owner": "", "claim_expires_at": nil}).Error
}

// ReleaseEventClaims ends every claim on undelivered events without
// recording an attempt, and returns how many it ended. Only a process that
// is the database's one deliverer may call it, as it starts: pushd on
// SQLite, where every claim it finds is one a killed predecessor left, which
// would otherwise hold its cluster's events back until the lease ran out.
func (s *Store) ReleaseEventClaims(ctx context.Context) (int64, error) {
	res := s.db.WithContext(ctx).Table("events").
		Where("delivered_at IS NULL AND claim_owner <> ''").
		Updates(map[string]any{"claim_owner": "", "claim_expires_at": nil})
	return res.RowsAffected, res.Error
}

// PruneEvents deletes events delivered before before; it returns how many.
// Undelivered events are never pruned.
func (s *Store) PruneEvents(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("delivered_at IS NOT NULL AND delivered_at < ?", before.UTC()).Delete(&Event{})
	return res.RowsAffected, res.Error
}
