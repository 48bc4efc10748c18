package observe_test

import (
	"context"
	"testing"
	"time"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/pkg/observe"
)

// holdWrites locks the application states against writes from another
// PostgreSQL connection until the returned func is called: the store is
// slow to write, as a busy or failing-over database is.
func holdWrites(t *testing.T, db dbtest.Database) (release func()) {
	t.Helper()
	g, err := gorm.Open(postgres.Open(db.DSN), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	tx := g.Begin()
	if err := tx.Exec("LOCK TABLE application_states IN EXCLUSIVE MODE").Error; err != nil { // reads go on, writes wait
		t.Fatal(err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			tx.Rollback()
			if sql, err := g.DB(); err == nil {
				sql.Close()
			}
		}
	}
	t.Cleanup(release)
	return release
}

// TestViewsDoNotWaitOnTheStore: a poll whose recording waits on the
// database (its write lock held elsewhere) holds no lock a view of the
// cluster needs: the application view answers at once, and the poll
// finishes once the database is back.
func TestViewsDoNotWaitOnTheStore(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db dbtest.Database) {
		if db.Driver == "sqlite" {
			// The SQLite store has one connection (one writer, in order): a
			// write that waits holds up every read of the process, so a view
			// waits whatever the watcher's locks are.
			t.Skip("SQLite serialises every statement on one connection")
		}
		ctx := context.Background()
		h := newHarness(t, db, observe.Options{}, bed.Clusters()[0])
		id := h.IDs[0]
		h.deploy(t, "v-1", id, "nextcloud", app("nextcloud"))

		release := holdWrites(t, db)
		polled := make(chan error, 1)
		go func() { polled <- h.watcher.Poll(ctx, id) }() // its first reading records the baselines
		time.Sleep(500 * time.Millisecond)
		select {
		case err := <-polled:
			t.Fatalf("the poll recorded while the database's write lock was held elsewhere: %v", err)
		default:
		}
		vctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		start := time.Now()
		if _, err := h.watcher.Application(vctx, id, h.NS, "nextcloud"); err != nil {
			t.Fatalf("view while the poll waits on the store (after %s): %v", time.Since(start).Round(time.Millisecond), err)
		}
		if time.Since(start) > 2*time.Second {
			t.Fatalf("the view waited %s on a poll blocked in the store", time.Since(start).Round(time.Millisecond))
		}
		release()
		if err := <-polled; err != nil {
			t.Fatalf("poll after the database came back: %v", err)
		}
	})
}
