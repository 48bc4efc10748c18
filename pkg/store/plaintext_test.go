package store

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vworkspace/pushd/internal/dbtest"
)

// TestNoPlaintextLeftInSQLite: manifests stored before a key was configured
// hold a Secret value in plain text; once rekey has sealed them and
// retention has pruned the old job, no byte of the value is left in the
// SQLite file or beside it (free pages, a cell's old bytes inside a page,
// the write-ahead log), so a copy of the file gives nothing away. The scan
// first sees the value on disk, so it is not blind.
func TestNoPlaintextLeftInSQLite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pushd.db")
	db := dbtest.Database{Driver: "sqlite", DSN: path}
	canary := []byte("s3cr3t-canary-7781") // in secretManifest
	// A release's manifests are kilobytes: past a page, the value spills
	// into overflow pages, which a rewrite or a delete frees whole.
	manifests := `[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big","namespace":"ns"},"data":{"pad":"` +
		strings.Repeat("x", 6000) + `"}},` + secretManifest[1:]

	plain, err := Open(ctx, db.Driver, db.DSN, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{ID: "c-1", Organization: "acme"}
	if _, err := plain.PutCluster(ctx, c); err != nil {
		t.Fatal(err)
	}
	finished := time.Now().Add(-48 * time.Hour)
	for _, id := range []string{"kept", "pruned"} {
		j := &Job{Organization: "acme", ID: id, Cluster: "c-1", ClusterUID: c.UID, Namespace: "ns", Application: "app",
			Action: "apply", Manifests: manifests, Status: JobQueued}
		if id == "pruned" {
			j.Status, j.FinishedAt = JobSucceeded, &finished
		}
		if _, err := plain.CreateJob(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if err := plain.Close(); err != nil {
		t.Fatal(err)
	}
	if found := scan(t, path, canary); len(found) == 0 {
		t.Fatal("the plain manifests are not on disk: the scan cannot see them")
	}

	keys, _ := keyring(t, "k1")
	s, err := Open(ctx, db.Driver, db.DSN, Options{ManifestKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.RekeyManifests(ctx)
	if err != nil || res.Resealed != 2 || res.Left != 0 {
		t.Fatalf("rekey: %+v %v, want 2 resealed", res, err)
	}
	if n, err := s.PruneJobs(ctx, time.Now().Add(-time.Hour)); err != nil || n != 1 {
		t.Fatalf("pruned %d: %v, want 1", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if found := scan(t, path, canary); len(found) != 0 {
		t.Fatalf("after rekey and retention the Secret value is still in %v", found)
	}
}

// scan names the files of the SQLite database at path (the file, its
// write-ahead log, its rollback journal) that hold needle, with how often.
func scan(t *testing.T, path string, needle []byte) map[string]int {
	t.Helper()
	found := map[string]int{}
	for _, f := range []string{path, path + "-wal", path + "-journal", path + "-shm"} {
		b, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(b, needle); n > 0 {
			found[filepath.Base(f)] = n
		}
	}
	return found
}
