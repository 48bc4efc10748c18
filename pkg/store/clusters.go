package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// ErrNotFound is returned when a row does not exist (or belongs to another organization).
var ErrNotFound = errors.New("not found")

// Cluster is a cluster's identity record. List-valued fields are JSON text,
// so both SQLite and PostgreSQL store them the same way.
type Cluster struct {
	ID                  string `gorm:"primaryKey;size:63"`
	Organization        string `gorm:"index;size:128;not null"`
	DisplayName         string
	Labels              string `gorm:"type:text"` // JSON object
	Connectivity        string `gorm:"size:16"`
	AllowedNamespaces   string `gorm:"type:text"` // JSON array
	AllowedApplications string `gorm:"type:text"` // JSON array
	AllowedOperations   string `gorm:"type:text"` // JSON array of {engine,type} and an operation's rules
	// Health is the record's health rules, a JSON array (migration 13).
	Health             string `gorm:"type:text"`
	DriftSchedule      string
	DriftMode          string `gorm:"size:16"`
	PublicKey          string `gorm:"type:text"`
	RequirePodSecurity bool   `gorm:"not null;default:false"`
	// UID is the record's generation: set when the record is created, never
	// changed, never reused. Jobs carry it (Job.ClusterUID), so a record
	// deleted and created again under the same id starts empty.
	UID string `gorm:"size:36"`
	// AcceptExcessRights lets jobs run with a credential the probe found
	// over-privileged; an operator sets it knowingly.
	AcceptExcessRights bool `gorm:"not null;default:false"`
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// ClusterStatus is what pushd last observed of a cluster. It is a row of its
// own so probes never race with record updates.
type ClusterStatus struct {
	ClusterID         string `gorm:"primaryKey;size:63"`
	State             string `gorm:"size:32"`
	Message           string `gorm:"type:text"`
	CheckedAt         time.Time
	ServerVersion     string
	CredentialSubject string
	CredentialExpiry  *time.Time
	CredentialRenewed *time.Time
	Namespaces        string `gorm:"type:text"` // JSON array of namespace reports
	ExcessRights      string `gorm:"type:text"` // JSON array
	// Breaker is the prober's circuit breaker after the probe (closed,
	// open, half-open; empty before migration 10) and BreakerRetryAt when
	// an open one lets a call through again: what replicas that do not
	// probe the cluster go by.
	Breaker        string `gorm:"size:16"`
	BreakerRetryAt *time.Time
}

// PutCluster creates or replaces a record; created reports which.
func (s *Store) PutCluster(ctx context.Context, c *Cluster) (created bool, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var existing Cluster
		switch err := tx.Where("id = ?", c.ID).Take(&existing).Error; {
		case errors.Is(err, gorm.ErrRecordNotFound):
			created = true
			c.UID = uuid.NewString()
			return tx.Create(c).Error
		case err != nil:
			return err
		case existing.Organization != c.Organization:
			// Checked here, in the transaction, so two organizations racing
			// for one id cannot overwrite each other's record.
			return ErrNotFound
		default:
			c.CreatedAt, c.UID = existing.CreatedAt, existing.UID
			return tx.Save(c).Error
		}
	})
	return created, err
}

// GetCluster returns the record id, or ErrNotFound. An empty organization matches any.
func (s *Store) GetCluster(ctx context.Context, organization, id string) (*Cluster, error) {
	q := s.db.WithContext(ctx).Where("id = ?", id)
	if organization != "" {
		q = q.Where("organization = ?", organization)
	}
	var c Cluster
	if err := q.Take(&c).Error; errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, err
	}
	return &c, nil
}

// ListClusters returns the records of an organization (all when empty), by id.
func (s *Store) ListClusters(ctx context.Context, organization string) ([]Cluster, error) {
	q := s.db.WithContext(ctx).Order("id")
	if organization != "" {
		q = q.Where("organization = ?", organization)
	}
	var cs []Cluster
	return cs, q.Find(&cs).Error
}

// DeleteCluster removes a record, its observed status and its
// applications' states, and appends events (cluster.deleted) in the same
// transaction. The record's generation goes with it: its jobs and events
// stay (for Odoo's history and delivery) but are reachable through no
// record any more.
func (s *Store) DeleteCluster(ctx context.Context, organization, id string, events ...*Event) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := addEvents(tx, events); err != nil {
			return err
		}
		res := tx.Where("id = ? AND organization = ?", id, organization).Delete(&Cluster{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		if err := tx.Where("cluster_id = ?", id).Delete(&ClusterStatus{}).Error; err != nil {
			return err
		}
		return tx.Where("cluster = ?", id).Delete(&ApplicationState{}).Error
	})
}

// SaveClusterStatus upserts what a probe observed and, in the same
// transaction, appends the events it caused to the outbox.
func (s *Store) SaveClusterStatus(ctx context.Context, st *ClusterStatus, events ...*Event) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := checkFence(ctx, tx); err != nil {
			return err
		}
		if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(st).Error; err != nil {
			return err
		}
		for _, e := range events {
			if err := addEvent(tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// UpdateClusterStatus stores a probe's observation made against the stored
// one. update gets the row as stored (zero when none), read inside the
// transaction under a lock of the cluster's status, and returns the new row
// and the events the change causes. Two probes of one cluster in different
// replicas — its lease holder's, and one asked through the API of another
// (a new credential) — take turns, so a transition is recorded once.
func (s *Store) UpdateClusterStatus(ctx context.Context, id string, update func(prev ClusterStatus) (*ClusterStatus, []*Event, error)) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := checkFence(ctx, tx); err != nil {
			return err
		}
		if s.driver == "postgres" { // SQLite's single writer serialises by itself
			if err := tx.Exec("SELECT pg_advisory_xact_lock(7301165, hashtext(?))", id).Error; err != nil {
				return err
			}
		}
		var prev ClusterStatus
		if err := tx.Where("cluster_id = ?", id).Limit(1).Find(&prev).Error; err != nil {
			return err
		}
		row, events, err := update(prev)
		if err != nil {
			return err
		}
		if err := tx.Clauses(clause.OnConflict{UpdateAll: true}).Create(row).Error; err != nil {
			return err
		}
		return addEvents(tx, events)
	})
}

// ClusterStatuses returns the observed status of the given clusters (all when ids is nil), by cluster id.
func (s *Store) ClusterStatuses(ctx context.Context, ids []string) (map[string]ClusterStatus, error) {
	q := s.db.WithContext(ctx)
	if ids != nil {
		q = q.Where("cluster_id IN ?", ids)
	}
	var rows []ClusterStatus
	if err := q.Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[string]ClusterStatus, len(rows))
	for _, r := range rows {
		out[r.ClusterID] = r
	}
	return out, nil
}
