package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// The SQLite file and its WAL hold webhook ids, job manifests (Secrets
// included) and events: owner-only.
func TestSQLiteFilesAreOwnerOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "pushd.db")
	s, err := Open(context.Background(), "sqlite", path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if os.IsNotExist(err) && f != path {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: mode %o, want 600", filepath.Base(f), m)
		}
	}
}
