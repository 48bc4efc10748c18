//go:build unix

package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A second lock of one SQLite file fails, naming the holder; once the
// first is closed (its process ended) the file can be locked again.
func TestLockSQLiteRefusesASecondHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pushd.db")
	first, err := LockSQLite(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = LockSQLite(path)
	if !errors.Is(err, ErrDatabaseInUse) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second lock: %v; want ErrDatabaseInUse naming the file and this pid", err)
	}
	first.Close()
	again, err := LockSQLite(path)
	if err != nil {
		t.Fatalf("lock after the holder closed: %v", err)
	}
	again.Close()
}
