package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// A migration moves the schema one version forward. Migrations are append-only:
// once released, a migration's body never changes; a fix is a new migration.
type migration struct {
	version int
	name    string
	up      func(tx *gorm.DB) error
}

// schemaMigration records which migrations ran.
type schemaMigration struct {
	Version   int `gorm:"primaryKey;autoIncrement:false"`
	Name      string
	AppliedAt time.Time
}

// migrations is the schema's history, oldest first.
var migrations = []migration{
	{version: 1, name: "schema_migrations", up: func(tx *gorm.DB) error { return nil }},
	{version: 2, name: "clusters, messages, events", up: func(tx *gorm.DB) error {
		return tx.Migrator().CreateTable(&Cluster{}, &ClusterStatus{}, &Message{}, &Event{})
	}},
	{version: 3, name: "jobs", up: func(tx *gorm.DB) error { return tx.Migrator().CreateTable(&Job{}) }},
	{version: 4, name: "event claims (outbox leases)", up: addEventClaims},
	{version: 5, name: "clusters.require_pod_security", up: func(tx *gorm.DB) error {
		if tx.Migrator().HasColumn(&Cluster{}, "RequirePodSecurity") {
			return nil // a database created at version 2 with today's Cluster has it
		}
		return tx.Migrator().AddColumn(&Cluster{}, "RequirePodSecurity")
	}},
	{version: 6, name: "parked events", up: addEventParking},
	{version: 7, name: "application states", up: func(tx *gorm.DB) error { return tx.Migrator().CreateTable(&ApplicationState{}) }},
	{version: 8, name: "ui sessions", up: addUISessions},
	{version: 9, name: "record generations, latest intent, waiting jobs", up: addRecordGenerations},
	{version: 10, name: "cluster leases, replicas, stored breakers", up: addClusterLeases},
	{version: 11, name: "audit log", up: addAuditLog},
	{version: 12, name: "job progress: next attempt of a retried job", up: addJobProgress},
	{version: 13, name: "clusters.health (health rules)", up: func(tx *gorm.DB) error {
		if tx.Migrator().HasColumn(&healthCluster{}, "Health") {
			return nil // a database created with today's Cluster has it
		}
		return tx.Migrator().AddColumn(&healthCluster{}, "Health")
	}},
	{version: 14, name: "operations: job results, cleanups, request completions", up: addOperations},
	{version: 15, name: "rollbacks and history: source jobs, manifest digests", up: addHistory},
}

// healthCluster is the column migration 13 adds; part of that migration, it
// never changes once released.
type healthCluster struct {
	Health string `gorm:"type:text"`
}

func (healthCluster) TableName() string { return "clusters" }

// migrate runs every migration newer than the database's version, each in its
// own transaction. On PostgreSQL an advisory lock makes replicas starting
// together take turns; SQLite's single writer does the same by itself.
func (s *Store) migrate(ctx context.Context, ms []migration) error {
	db := s.db.WithContext(ctx)
	if err := db.AutoMigrate(&schemaMigration{}); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	for _, m := range ms {
		err := db.Transaction(func(tx *gorm.DB) error {
			if s.driver == "postgres" {
				if err := tx.Exec("SELECT pg_advisory_xact_lock(7301164)").Error; err != nil {
					return err
				}
			}
			var n int64
			if err := tx.Model(&schemaMigration{}).Where("version = ?", m.version).Count(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if err := m.up(tx); err != nil {
				return err
			}
			return tx.Create(&schemaMigration{Version: m.version, Name: m.name, AppliedAt: time.Now().UTC()}).Error
		})
		if err != nil {
			return fmt.Errorf("store: migration %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}

// SchemaVersion is the newest migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.WithContext(ctx).Model(&schemaMigration{}).Select("COALESCE(MAX(version), 0)").Scan(&v).Error
	return v, err
}
