package dbtest

import (
	"os"
	"testing"
)

// Server is a PostgreSQL server a test (or the benchmark) has to itself, so
// it may stop it and start it again (an outage) without touching other
// tests' databases. It always runs from the local binaries: a server named
// by PUSHD_TEST_POSTGRES_URL cannot be restarted by a test.
type Server struct {
	srv *pgServer
}

// OwnPostgres starts a server for t, stopped and removed when t ends. Like
// Postgres it skips without a PostgreSQL, or fails under CI=true or
// PUSHD_REQUIRE_POSTGRES=1.
func OwnPostgres(t *testing.T) *Server {
	t.Helper()
	s, err := NewServer()
	if err != nil {
		unavailable(t, err, "install postgresql")
	}
	t.Cleanup(s.Close)
	return s
}

// NewServer starts a server outside a test (initdb into a fresh temporary
// folder, postgres on a free loopback port); Close stops and removes it.
func NewServer() (*Server, error) {
	srv, err := newServer()
	if err != nil {
		return nil, err
	}
	return &Server{srv: srv}, nil
}

// URL is the server's admin URL (database postgres), which pushd may also
// use as its database.
func (s *Server) URL() string { return s.srv.url }

// Close stops the server and removes its data.
func (s *Server) Close() {
	s.srv.stop()
	os.RemoveAll(s.srv.dir)
}

// Database creates a new, empty database on the server (removed with it).
func (s *Server) Database(t *testing.T) Database {
	t.Helper()
	return createDatabase(t, s.srv.url).Database
}

// Stop shuts the server down (its sessions end, its data stays) and waits
// until it is gone: from now on connections are refused.
func (s *Server) Stop() { s.srv.stop() }

// Start starts the server again on the same port and data and waits until
// it answers.
func (s *Server) Start() error { return s.srv.start() }
