package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of an SQLite database to dst while pushd
// keeps running (VACUUM INTO: one read transaction, so writers are not
// blocked beyond SQLite's usual single writer). dst must not exist — a
// backup never overwrites another — and is created owner-only, like the
// database: it holds the same webhook ids, manifests and events.
//
// PostgreSQL is backed up with its own tools (pg_dump), which do the same
// without pushd's help.
func (s *Store) Backup(ctx context.Context, dst string) error {
	if s.driver != "sqlite" {
		return fmt.Errorf("store: backup: %s is backed up with its own tools (pg_dump)", s.driver)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("store: backup %s: %w", dst, err)
	}
	// SQLite takes an existing empty file as the target; creating it here
	// sets its mode and refuses an existing backup.
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("store: backup: %w", err)
	}
	f.Close()
	if err := s.db.WithContext(ctx).Exec("VACUUM INTO ?", dst).Error; err != nil {
		return errors.Join(fmt.Errorf("store: backup %s: %w", dst, err), os.Remove(dst))
	}
	return nil
}
