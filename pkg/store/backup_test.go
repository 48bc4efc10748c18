package store

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vworkspace/pushd/internal/dbtest"
)

// TestBackupRestoreSQLite takes an online backup (the store stays open and
// in use) and opens it as a fresh pushd's database would be: jobs and
// records intact, owner-only like the original.
func TestBackupRestoreSQLite(t *testing.T) {
	ctx := context.Background()
	s := open(t, dbtest.Database{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "pushd.db")})
	seedRows(t, s.db)
	dst := filepath.Join(t.TempDir(), "backup", "pushd.db")
	if err := s.Backup(ctx, dst); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil { // still serving
		t.Fatal(err)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v; want mode 600", fi, err)
	}
	if err := s.Backup(ctx, dst); err == nil {
		t.Error("a second backup over the first succeeded; want a refusal, not an overwrite")
	}
	restored := open(t, dbtest.Database{Driver: "sqlite", DSN: dst})
	checkRows(t, restored)
}

// TestBackupRestorePostgres dumps a live database with pg_dump's custom
// format, restores it with pg_restore into an empty database and opens
// that with the store: jobs and records intact.
func TestBackupRestorePostgres(t *testing.T) {
	ctx := context.Background()
	src := dbtest.Postgres(t)
	s := open(t, src)
	seedRows(t, s.db)
	if err := s.Backup(ctx, filepath.Join(t.TempDir(), "x")); err == nil {
		t.Error("Backup on PostgreSQL succeeded; want an error pointing at pg_dump")
	}
	pgDump, pgRestore := pgTool(t, "pg_dump"), pgTool(t, "pg_restore")
	dump := filepath.Join(t.TempDir(), "pushd.dump")
	run(t, pgDump, "--format=custom", "--no-owner", "--file", dump, "--dbname", src.DSN)
	dst := dbtest.Postgres(t)
	run(t, pgRestore, "--no-owner", "--exit-on-error", "--dbname", dst.DSN, dump)
	checkRows(t, open(t, dst))
}

// pgTool finds a PostgreSQL client binary the way dbtest finds the server's.
func pgTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(m) == 0 {
		t.Fatalf("%s not found in PATH or /usr/lib/postgresql/*/bin", name)
	}
	return m[len(m)-1]
}

func run(t *testing.T, bin string, args ...string) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
	}
}
