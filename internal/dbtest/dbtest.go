// Package dbtest runs a test once per supported database: a fresh SQLite file
// and a fresh PostgreSQL database. PostgreSQL comes from PUSHD_TEST_POSTGRES_URL
// when set (an admin URL; each test gets its own database in it), otherwise from
// a throw-away server this package starts on loopback from the local initdb and
// postgres binaries, once per test binary.
//
// Where no PostgreSQL can be had, PostgreSQL runs are skipped with the reason,
// except under CI=true or PUSHD_REQUIRE_POSTGRES=1, where they fail: CI must
// never pass without the PostgreSQL run. The same starter gives a test, or
// the benchmark, a server of its own (OwnPostgres, NewServer).
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// Database is what store.Open takes.
type Database struct {
	Driver string
	DSN    string
}

// URL is the database as PUSHD_DATABASE_URL names it.
func (d Database) URL() string {
	if d.Driver == "sqlite" {
		return "sqlite://" + d.DSN
	}
	return d.DSN
}

// Each runs fn as a subtest per database, named after the driver.
func Each(t *testing.T, fn func(t *testing.T, db Database)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, Database{Driver: "sqlite", DSN: filepath.Join(t.TempDir(), "pushd.db")})
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, Postgres(t))
	})
}

// EachContext is Each with a context that ends with the subtest
// (t.Context()), which nearly every test on a database opens with.
func EachContext(t *testing.T, fn func(t *testing.T, ctx context.Context, db Database)) {
	t.Helper()
	Each(t, func(t *testing.T, db Database) {
		fn(t, t.Context(), db)
	})
}

// Postgres returns a new, empty PostgreSQL database that lives as long as the test.
func Postgres(t *testing.T) Database {
	t.Helper()
	admin, err := server()
	if err != nil {
		unavailable(t, err, "install postgresql or set PUSHD_TEST_POSTGRES_URL")
	}
	db := createDatabase(t, admin)
	t.Cleanup(func() {
		conn, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer conn.Close()
		conn.Exec("DROP DATABASE IF EXISTS " + db.name + " WITH (FORCE)")
	})
	return db.Database
}

// unavailable ends a test that has no PostgreSQL: skipped with the reason,
// or failed under CI=true or PUSHD_REQUIRE_POSTGRES=1.
func unavailable(t *testing.T, err error, hint string) {
	t.Helper()
	if os.Getenv("CI") == "true" || os.Getenv("PUSHD_REQUIRE_POSTGRES") == "1" {
		t.Fatalf("PostgreSQL is required here: %v", err)
	}
	t.Skipf("PostgreSQL not available (%v): %s", err, hint)
}

// created is a database createDatabase made, and its name.
type created struct {
	Database
	name string
}

// createDatabase creates a new, empty database on the server at admin.
func createDatabase(t *testing.T, admin string) created {
	t.Helper()
	name := "pushd_test_" + randomHex(6)
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return created{Database{Driver: "postgres", DSN: withDatabase(admin, name)}, name}
}

// Main wraps testing.M.Run so a server this package started is stopped when
// the package's tests end: func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }.
func Main(m *testing.M) int {
	code := m.Run()
	stop()
	return code
}

var (
	once     sync.Once
	adminURL string
	startErr error
	shared   *pgServer // the server start ran, if any
)

func server() (string, error) {
	once.Do(func() {
		if u := os.Getenv("PUSHD_TEST_POSTGRES_URL"); u != "" {
			adminURL = u
			return
		}
		adminURL, startErr = start()
	})
	return adminURL, startErr
}

func stop() {
	if shared == nil {
		return
	}
	shared.stop()
	os.RemoveAll(shared.dir)
}

// start runs the package's shared server.
func start() (string, error) {
	srv, err := newServer()
	if err != nil {
		return "", err
	}
	shared = srv
	return srv.url, nil
}

// pgServer is one PostgreSQL: initdb'd into a folder of its own, run on a
// free loopback port, and startable again on that port and data.
type pgServer struct {
	postgres string // the binary
	dir      string // holds data/ and the socket
	cred     *syscall.Credential
	port     int
	url      string // the admin URL, database postgres
	proc     *exec.Cmd
	done     chan struct{}
}

// newServer runs initdb and postgres on a free loopback port. PostgreSQL
// refuses to run as root, so as root it runs as the postgres (or nobody) user.
// On an error nothing is left running or on disk.
func newServer() (_ *pgServer, err error) {
	initdb, err := findBinary("initdb")
	if err != nil {
		return nil, err
	}
	s := &pgServer{postgres: filepath.Join(filepath.Dir(initdb), "postgres")}
	if s.dir, err = os.MkdirTemp("", "pushd-pg-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(s.dir)
		}
	}()
	if s.cred, err = unprivileged(); err != nil {
		return nil, err
	}
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(initdb, "-D", filepath.Join(s.dir, "data"), "-U", "pushd", "--auth=trust", "-E", "UTF8", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v: %s", err, out)
	}
	if s.port, err = freePort(); err != nil {
		return nil, err
	}
	s.url = fmt.Sprintf("postgres://pushd@127.0.0.1:%d/postgres?sslmode=disable", s.port)
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

// start runs postgres on the server's port and data and waits until it
// answers.
func (s *pgServer) start() error {
	s.proc = exec.Command(s.postgres, "-D", filepath.Join(s.dir, "data"), "-p", strconv.Itoa(s.port), "-k", s.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200")
	s.proc.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logFile, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close() // the child has its own descriptor
	s.proc.Stdout, s.proc.Stderr = logFile, logFile
	if err := s.proc.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(s.proc, s.done)
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, err := sql.Open("pgx", s.url)
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.stop()
			log, _ := os.ReadFile(logFile.Name())
			return fmt.Errorf("postgres did not come up: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop shuts the server down fast (SIGINT: sessions are ended, data kept)
// and waits until it is gone.
func (s *pgServer) stop() {
	s.proc.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.proc.Process.Kill()
		<-s.done
	}
}

func findBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", errors.New(name + " not found in PATH or /usr/lib/postgresql/*/bin")
}

func unprivileged() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and no postgres or nobody user to run PostgreSQL as")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// withDatabase points a PostgreSQL URL at another database.
func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
