package store

import (
	"context"
	"fmt"
	"reflect"

	"gorm.io/gorm"

	"github.com/vworkspace/pushd/pkg/store/sealed"
)

// Manifests at rest: a job's manifests hold Secret values, so with a key
// configured (Options.ManifestKeys) they are stored sealed (package
// sealed) and opened again as they are read. Both happen here, in gorm
// callbacks of the store's own connection, for every Job written or read,
// whichever query did it: nothing above the store sees a sealed value,
// and no query added later can forget to open one. A value that cannot be
// opened (its key is not configured) fails the read with an error naming
// the job and the key, never returning the envelope as if it were JSON.
//
// Only Job values are touched; SQL that reads the column into something
// else (RekeyManifests, the tests' raw reads) sees what is stored. Jobs'
// manifests are written by CreateJob only (ForgetManifests empties them,
// RekeyManifests writes envelopes itself): an update that set them from a
// Job would have to seal them the same way.

var jobType = reflect.TypeFor[Job]()

// registerSealing installs the callbacks on db; keys may be nil (then
// nothing is sealed, and a sealed row fails to read naming its key).
func registerSealing(db *gorm.DB, keys *sealed.Keyring) error {
	seal := func(j *Job) error {
		v, err := keys.Seal(j.Manifests)
		if err == nil {
			j.Manifests = v
		}
		return err // gorm:create then writes nothing
	}
	open := func(j *Job) error {
		v, err := keys.Open(j.Manifests)
		if err == nil {
			j.Manifests = v
		}
		return err
	}
	cb := db.Callback()
	if err := cb.Create().Before("gorm:create").Register("pushd:seal_manifests", eachJob(seal)); err != nil {
		return err
	}
	// The caller keeps its *Job: give it back its plain manifests.
	if err := cb.Create().After("gorm:create").Register("pushd:reopen_manifests", eachJob(open)); err != nil {
		return err
	}
	return cb.Query().After("gorm:query").Register("pushd:open_manifests", eachJob(open))
}

// eachJob applies fn to every Job the statement writes or read.
func eachJob(fn func(*Job) error) func(*gorm.DB) {
	return func(tx *gorm.DB) {
		v := tx.Statement.ReflectValue
		if !v.IsValid() {
			return
		}
		apply := func(e reflect.Value) {
			e = reflect.Indirect(e)
			if e.Type() != jobType || !e.CanAddr() {
				return
			}
			j := e.Addr().Interface().(*Job)
			if err := fn(j); err != nil {
				tx.AddError(fmt.Errorf("store: job %q: manifests: %w", j.ID, err))
			}
		}
		switch v.Kind() {
		case reflect.Slice, reflect.Array:
			if elem := v.Type().Elem(); elem != jobType && !(elem.Kind() == reflect.Pointer && elem.Elem() == jobType) {
				return
			}
			for i := range v.Len() {
				if e := v.Index(i); e.Kind() != reflect.Pointer || !e.IsNil() {
					apply(e)
				}
			}
		case reflect.Struct:
			apply(v)
		}
	}
}

// RekeyResult is what RekeyManifests did.
type RekeyResult struct {
	// Key is the id of the key everything is now sealed with.
	Key string
	// Resealed counts the manifests sealed again (or for the first time).
	Resealed int64
	// Left counts the manifests still not sealed with Key when it ended
	// (written meanwhile by a process with other keys); 0 means older keys
	// can be dropped.
	Left int64
}

// RekeyManifests seals every stored manifest not yet sealed with the
// current key — plain ones and those of older keys — with it, so older
// keys can be dropped from the configuration. It works in batches, each
// row updated only if it still holds what was read (a concurrent writer
// wins), and can be run again at any time. On SQLite it ends by scrubbing
// the file (scrub), so no plain manifest is left in it.
func (s *Store) RekeyManifests(ctx context.Context) (RekeyResult, error) {
	keys := s.manifestKeys
	res := RekeyResult{Key: keys.Current()}
	if keys == nil {
		return res, fmt.Errorf("store: rekey: no manifest key configured")
	}
	// A prefix comparison, not LIKE: a key id may hold "_", a wildcard.
	current := "enc:v1:" + keys.Current() + ":"
	notCurrent := "manifests <> '' AND SUBSTR(manifests, 1, ?) <> ?"
	type row struct {
		Seq       int64
		ID        string
		Manifests string
	}
	for after := int64(0); ; {
		var rows []row
		err := s.db.WithContext(ctx).Table("jobs").Select("seq, id, manifests").
			Where("seq > ?", after).Where(notCurrent, len(current), current).
			Order("seq").Limit(200).Scan(&rows).Error
		if err != nil {
			return res, err
		}
		if len(rows) == 0 {
			if err := s.db.WithContext(ctx).Table("jobs").Where(notCurrent, len(current), current).Count(&res.Left).Error; err != nil {
				return res, err
			}
			return res, s.scrub(ctx)
		}
		for _, r := range rows {
			after = r.Seq
			plain, err := keys.Open(r.Manifests)
			if err != nil {
				return res, fmt.Errorf("store: rekey: job %q: %w", r.ID, err)
			}
			v, err := keys.Seal(plain)
			if err != nil {
				return res, fmt.Errorf("store: rekey: job %q: %w", r.ID, err)
			}
			u := s.db.WithContext(ctx).Table("jobs").Where("seq = ? AND manifests = ?", r.Seq, r.Manifests).Update("manifests", v)
			if u.Error != nil {
				return res, fmt.Errorf("store: rekey: job %q: %w", r.ID, u.Error)
			}
			res.Resealed += u.RowsAffected
		}
	}
}

// scrub rewrites an SQLite file without its free pages (VACUUM). Since
// secure_delete (store.go) every byte SQLite frees is zeroed, but a file
// written by an earlier release, or before the pragma, may still hold
// plain manifests in pages freed back then; rekey is when an operator
// wants them gone. VACUUM holds the write lock while it copies the file
// (writers of a running pushd wait, up to busy_timeout) and needs as much
// free disk again. PostgreSQL keeps dead tuples until its own VACUUM
// (autovacuum, or VACUUM FULL to return the space): see docs/operations.md.
func (s *Store) scrub(ctx context.Context) error {
	if s.driver != "sqlite" {
		return nil
	}
	if err := s.db.WithContext(ctx).Exec("VACUUM").Error; err != nil {
		return fmt.Errorf("store: rekey: vacuum: %w", err)
	}
	return nil
}
