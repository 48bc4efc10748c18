package store

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// canary is the Secret value of secretManifest.
var canary = []byte("s3cr3t-canary-7781")

// TestNoPlaintextLeftInSQLite: manifests stored before a key was configured
// hold a Secret value in plain text. Retention deleting a job leaves no
// copy of it in the SQLite file (free pages, a cell's old bytes inside a
// page, the write-ahead log): only the live job's row holds the value.
// Once rekey has sealed the live rows, no byte of it is left at all, not
// even in pages an earlier release freed without zeroing. Each scan first
// sees the value on disk, so it is not blind.
func TestNoPlaintextLeftInSQLite(t *testing.T) {
	ctx := context.Background()
	// A release's manifests are kilobytes: past a page, the value spills
	// into overflow pages, which a rewrite or a delete frees whole.
	manifests := `[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big","namespace":"ns"},"data":{"pad":"` +
		strings.Repeat("x", 6000) + `"}},` + secretManifest[1:]
	// plainJobs is a file with jobs stored before any key, each holding
	// the value once; the ids but "kept" finished two days ago.
	plainJobs := func(t *testing.T, ids ...string) (string, *Store) {
		t.Helper()
		path := filepath.Join(t.TempDir(), "pushd.db")
		s, err := Open(ctx, "sqlite", path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		c := &Cluster{ID: "c-1", Organization: "acme"}
		if _, err := s.PutCluster(ctx, c); err != nil {
			t.Fatal(err)
		}
		finished := time.Now().Add(-48 * time.Hour)
		for _, id := range ids {
			j := &Job{Organization: "acme", ID: id, Cluster: "c-1", ClusterUID: c.UID, Namespace: "ns", Application: "app",
				Action: "apply", Manifests: manifests, Status: JobQueued}
			if id != "kept" {
				j.Status, j.FinishedAt = JobSucceeded, &finished
			}
			if _, err := s.CreateJob(ctx, j); err != nil {
				t.Fatal(err)
			}
		}
		return path, s
	}
	closed := func(t *testing.T, s *Store) {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("retention", func(t *testing.T) {
		path, s := plainJobs(t, "kept", "pruned")
		if n, err := s.PruneJobs(ctx, time.Now().Add(-time.Hour)); err != nil || n != 1 {
			t.Fatalf("pruned %d: %v, want 1", n, err)
		}
		closed(t, s)
		if found := scan(t, path); found["pushd.db"] != 1 || len(found) != 1 {
			t.Fatalf("after retention the Secret value is in %v, want once in pushd.db (the kept job)", found)
		}
	})

	t.Run("rekey", func(t *testing.T) {
		path, s := plainJobs(t, "kept", "pruned-before")
		// A release without secure_delete pruned one: its pages went to the
		// free list as they were. (One connection: the pragma holds for the
		// statements after it.)
		if err := s.db.Exec("PRAGMA secure_delete = OFF").Error; err != nil {
			t.Fatal(err)
		}
		if err := s.db.Where("id = ?", "pruned-before").Delete(&Job{}).Error; err != nil {
			t.Fatal(err)
		}
		closed(t, s)
		if found := scan(t, path); len(found) == 0 {
			t.Fatal("the plain manifests are not on disk: the scan cannot see them")
		}
		keys, _ := keyring(t, "k1")
		s, err := Open(ctx, "sqlite", path, Options{ManifestKeys: keys})
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.RekeyManifests(ctx)
		if err != nil || res.Resealed != 1 || res.Left != 0 {
			t.Fatalf("rekey: %+v %v, want 1 resealed", res, err)
		}
		closed(t, s)
		if found := scan(t, path); len(found) != 0 {
			t.Fatalf("after rekey the Secret value is still in %v", found)
		}
	})
}

// scan counts canary in the files of the SQLite database at path (the
// file, its write-ahead log and shared memory, a rollback journal), by
// file name.
func scan(t *testing.T, path string) map[string]int {
	t.Helper()
	found := map[string]int{}
	for _, f := range []string{path, path + "-wal", path + "-shm", path + "-journal"} {
		b, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(b, canary); n > 0 {
			found[filepath.Base(f)] = n
		}
	}
	return found
}
