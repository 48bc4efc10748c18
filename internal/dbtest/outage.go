package dbtest

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"
)

// Server is a PostgreSQL server a test has to itself, so it may stop it and
// start it again (an outage) without touching other tests' databases. It
// always runs from the local binaries: a server named by
// PUSHD_TEST_POSTGRES_URL cannot be restarted by a test.
type Server struct {
	srv *pgServer
}

// OwnPostgres starts a server for t, stopped and removed when t ends. Like
// Postgres it skips without a PostgreSQL, or fails under CI=true or
// PUSHD_REQUIRE_POSTGRES=1.
func OwnPostgres(t *testing.T) *Server {
	t.Helper()
	srv, err := newServer()
	if err != nil {
		if srv != nil {
			os.RemoveAll(srv.dir)
		}
		if os.Getenv("CI") == "true" || os.Getenv("PUSHD_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL is required here: %v", err)
		}
		t.Skipf("PostgreSQL not available (%v): install postgresql", err)
	}
	t.Cleanup(func() {
		srv.stop()
		os.RemoveAll(srv.dir)
	})
	return &Server{srv: srv}
}

// Database creates a new, empty database on the server.
func (s *Server) Database(t *testing.T) Database {
	t.Helper()
	name := "pushd_test_" + randomHex(6)
	db, err := sql.Open("pgx", s.srv.url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return Database{Driver: "postgres", DSN: withDatabase(s.srv.url, name)}
}

// Stop shuts the server down (its sessions end, its data stays) and waits
// until it is gone: from now on connections are refused.
func (s *Server) Stop() { s.srv.stop() }

// Start starts the server again on the same port and data and waits until
// it answers.
func (s *Server) Start() error { return s.srv.start() }
