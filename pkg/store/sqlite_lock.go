//go:build unix

package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"
)

// ErrDatabaseInUse: another pushd serves the SQLite file.
var ErrDatabaseInUse = errors.New("SQLite database in use by another pushd")

// LockSQLite makes path this process's SQLite database: SQLite serves one
// pushd at a time (a second one would not corrupt the file, but would
// probe, poll and send every event a second time). It takes an exclusive
// flock on path+".lock", beside the database, and writes who holds it
// there; a second pushd on the same file fails with ErrDatabaseInUse,
// naming the first one's pid and host. The kernel drops the lock when the
// process ends, however it ends, so a killed pushd never leaves a stale
// lock. Close the returned value to unlock. Only `pushd serve` takes it:
// `pushd backup` and the other commands read the database beside it.
func LockSQLite(path string) (io.Closer, error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := io.ReadAll(io.LimitReader(f, 512))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("store: %s: %w (%s); run one pushd per SQLite file, or PostgreSQL for several replicas",
				path, ErrDatabaseInUse, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("store: lock %s: %w", path, err)
	}
	host, _ := os.Hostname()
	if err := f.Truncate(0); err == nil {
		fmt.Fprintf(f, "pid %d on host %s since %s\n", os.Getpid(), host, time.Now().UTC().Format(time.RFC3339))
	}
	return f, nil
}
