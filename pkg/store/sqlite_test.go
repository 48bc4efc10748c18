package store

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// minSQLite is the oldest SQLite engine the store accepts being built with:
// the embedded engine is part of the binary, so an old one is a dependency
// nobody updates. 3.50 is 2025's line.
const minSQLite = "3.50.0"

// TestSQLiteEngineIsCurrent reads the version of the engine compiled into
// the binary and the pragmas every connection must carry (the pool may open
// new connections at any time, so each is checked on a fresh one).
func TestSQLiteEngineIsCurrent(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite", filepath.Join(t.TempDir(), "pushd.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var version string
	if err := s.db.WithContext(ctx).Raw("SELECT sqlite_version()").Scan(&version).Error; err != nil {
		t.Fatal(err)
	}
	if !atLeast(version, minSQLite) {
		t.Errorf("sqlite_version() = %s, want at least %s", version, minSQLite)
	}
	sqlDB, _ := s.db.DB()
	sqlDB.SetConnMaxLifetime(1) // every query below gets a new connection
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL
		"busy_timeout": "10000",
		"foreign_keys": "1",
	} {
		var got string
		if err := s.db.WithContext(ctx).Raw("PRAGMA " + pragma).Scan(&got).Error; err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
}

// atLeast compares dotted versions numerically.
func atLeast(have, want string) bool {
	h, w := strings.Split(have, "."), strings.Split(want, ".")
	for i := range w {
		var a, b int
		if i < len(h) {
			a, _ = strconv.Atoi(h[i])
		}
		b, _ = strconv.Atoi(w[i])
		if a != b {
			return a > b
		}
	}
	return true
}

func TestAtLeast(t *testing.T) {
	for _, c := range []struct {
		have, want string
		ok         bool
	}{
		{"3.41.2", "3.50.0", false},
		{"3.50.0", "3.50.0", true},
		{"3.51.1", "3.50.0", true},
		{"4.0", "3.50.0", true},
	} {
		if got := atLeast(c.have, c.want); got != c.ok {
			t.Errorf("atLeast(%s, %s) = %v", c.have, c.want, got)
		}
	}
}
