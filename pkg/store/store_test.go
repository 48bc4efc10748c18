package store

import (
	"context"
	"os"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/vworkspace/pushd/internal/dbtest"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

func open(t *testing.T, db dbtest.Database) *Store {
	t.Helper()
	s, err := Open(context.Background(), db.Driver, db.DSN, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenMigratesToCurrentSchema(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		ctx := context.Background()
		s := open(t, db)
		if err := s.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		want := migrations[len(migrations)-1].version
		if v, err := s.SchemaVersion(ctx); err != nil || v != want {
			t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, want)
		}
		// Opening again (a restart or an upgrade with nothing new) is a no-op.
		s2 := open(t, db)
		if v, err := s2.SchemaVersion(ctx); err != nil || v != want {
			t.Fatalf("after reopen SchemaVersion = %d, %v; want %d", v, err, want)
		}
	})
}

// TestMigrationsRunOnceUnderConcurrency starts several stores on one database
// at once, as replicas starting together would, with a migration that fails
// if it runs twice.
func TestMigrationsRunOnceUnderConcurrency(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		ctx := context.Background()
		type probe struct{ ID int }
		ms := append(append([]migration(nil), migrations...), migration{
			version: 1000, name: "probe",
			up: func(tx *gorm.DB) error { return tx.Migrator().CreateTable(&probe{}) }, // errors if the table exists
		})
		stores := make([]*Store, 4)
		for i := range stores {
			stores[i] = open(t, db)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(stores))
		for i, s := range stores {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = s.migrate(ctx, ms) }()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("store %d: %v", i, err)
			}
		}
		if v, _ := stores[0].SchemaVersion(ctx); v != 1000 {
			t.Fatalf("SchemaVersion = %d, want 1000", v)
		}
	})
}

func TestOpenRejectsUnknownDriver(t *testing.T) {
	if _, err := Open(context.Background(), "mysql", "x", Options{}); err == nil {
		t.Fatal("want error")
	}
}
