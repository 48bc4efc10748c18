// Package storetest opens the store for a test, closed when the test ends.
package storetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/vworkspace/pushd/internal/dbtest"
	"github.com/vworkspace/pushd/pkg/store"
)

// Open opens the store on db with the default options.
func Open(t testing.TB, db dbtest.Database) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), db.Driver, db.DSN, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Each runs fn once per database (dbtest.Each) on a store opened there,
// with a context that ends with the subtest.
func Each(t *testing.T, fn func(t *testing.T, ctx context.Context, st *store.Store)) {
	t.Helper()
	dbtest.EachContext(t, func(t *testing.T, ctx context.Context, db dbtest.Database) {
		fn(t, ctx, Open(t, db))
	})
}

// SQLite opens the store on a fresh SQLite file in the test's temporary folder.
func SQLite(t testing.TB) *store.Store {
	t.Helper()
	return Open(t, dbtest.Database{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "pushd.db")})
}
