package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// Record generations: a cluster id names a record, and a record has one
// generation (Cluster.UID) from its creation to its deletion. Everything
// pushd keeps about a cluster's work — jobs, events, the latest intent of
// each application — is bound to the generation, not to the id, so a
// record deleted and registered again (by the same organization or
// another) starts empty: no query below matches the old generation's rows.

// generationColumns are the columns migration 9 adds. Their bodies are part
// of that migration: they never change once released.
type generationCluster struct {
	UID                string `gorm:"size:36"`
	AcceptExcessRights bool   `gorm:"not null;default:false"`
}

func (generationCluster) TableName() string { return "clusters" }

type generationJob struct {
	ClusterUID   string `gorm:"index;size:36"`
	Intent       bool   `gorm:"not null;default:false"`
	WaitReason   string `gorm:"type:text"`
	WaitingSince *time.Time
	Retries      string `gorm:"type:text"`
}

func (generationJob) TableName() string { return "jobs" }

type generationEvent struct {
	ClusterUID string `gorm:"size:36"`
}

func (generationEvent) TableName() string { return "events" }

// addRecordGenerations is migration 9: record generations bound to jobs and
// events, the latest-intent flag of jobs, waiting jobs and retried
// failures, and the acceptance of an over-privileged credential. Existing
// records get a generation, and their jobs and events the generation of
// the record of the same id and organization; a succeeded job was an
// intent.
func addRecordGenerations(tx *gorm.DB) error {
	for _, c := range []struct {
		model any
		cols  []string
	}{
		{&generationCluster{}, []string{"UID", "AcceptExcessRights"}},
		{&generationJob{}, []string{"ClusterUID", "Intent", "WaitReason", "WaitingSince", "Retries"}},
		{&generationEvent{}, []string{"ClusterUID"}},
	} {
		for _, col := range c.cols {
			if tx.Migrator().HasColumn(c.model, col) {
				continue // a database created with today's structs has it
			}
			if err := tx.Migrator().AddColumn(c.model, col); err != nil {
				return err
			}
		}
	}
	if !tx.Migrator().HasIndex(&generationJob{}, "ClusterUID") {
		if err := tx.Migrator().CreateIndex(&generationJob{}, "ClusterUID"); err != nil {
			return err
		}
	}
	var ids []string
	if err := tx.Table("clusters").Where("uid IS NULL OR uid = ''").Pluck("id", &ids).Error; err != nil {
		return err
	}
	for _, id := range ids {
		if err := tx.Table("clusters").Where("id = ?", id).Update("uid", uuid.NewString()).Error; err != nil {
			return err
		}
	}
	for _, table := range []string{"jobs", "events"} {
		err := tx.Exec(`UPDATE ` + table + ` SET cluster_uid = (SELECT uid FROM clusters
			WHERE clusters.id = ` + table + `.cluster AND clusters.organization = ` + table + `.organization)
			WHERE cluster_uid IS NULL OR cluster_uid = ''`).Error
		if err != nil {
			return err
		}
	}
	return tx.Exec("UPDATE jobs SET intent = ? WHERE status = ?", true, JobSucceeded).Error
}

// LatestIntent returns the newest job of (generation, namespace,
// application) that passed its preflight — Odoo's latest intent for the
// application: an apply's manifests are its desired state, a delete says
// it should not exist. ErrNotFound when there is none.
func (s *Store) LatestIntent(ctx context.Context, uid, namespace, application string) (*Job, error) {
	return s.newestJob(ctx, s.db.WithContext(ctx).Where("intent = ?", true), uid, namespace, application)
}

// LatestJob returns the newest job of (generation, namespace, application),
// whatever its status. ErrNotFound when there is none.
func (s *Store) LatestJob(ctx context.Context, uid, namespace, application string) (*Job, error) {
	return s.newestJob(ctx, s.db.WithContext(ctx), uid, namespace, application)
}

func (s *Store) newestJob(ctx context.Context, q *gorm.DB, uid, namespace, application string) (*Job, error) {
	if uid == "" {
		return nil, ErrNotFound // a record without a generation owns nothing
	}
	var j Job
	err := q.Where("cluster_uid = ? AND namespace = ? AND application = ?", uid, namespace, application).
		Order("seq DESC").Take(&j).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return &j, nil
}

// DeletedManifestRetention is how long the manifests of a deleted
// record's jobs are kept (for an operator's forensics) before
// ForgetManifests empties them.
const DeletedManifestRetention = 7 * 24 * time.Hour

// ForgetManifests empties the manifests of jobs whose record generation no
// longer exists and that finished before before: once a record is deleted
// its stored manifests (which may hold Secret values) are kept only for the
// retention the caller chose. It returns how many jobs it emptied.
func (s *Store) ForgetManifests(ctx context.Context, before time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Model(&Job{}).
		Where("manifests <> '' AND finished_at < ?", before.UTC()).
		Where("NOT EXISTS (SELECT 1 FROM clusters WHERE clusters.uid = jobs.cluster_uid)").
		Update("manifests", "")
	return res.RowsAffected, res.Error
}
