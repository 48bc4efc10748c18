// Package dbtest runs a test once per supported database: a fresh SQLite file
// and a fresh PostgreSQL database. PostgreSQL comes from PUSHD_TEST_POSTGRES_URL
// when set (an admin URL; each test gets its own database in it), otherwise from
// a throw-away server this package starts on loopback from the local initdb and
// postgres binaries, once per test binary.
//
// Where no PostgreSQL can be had, PostgreSQL runs are skipped with the reason,
// except under CI=true or PUSHD_REQUIRE_POSTGRES=1, where they fail: CI must
// never pass without the PostgreSQL run.
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

// Postgres returns a new, empty PostgreSQL database that lives as long as the test.
func Postgres(t *testing.T) Database {
	t.Helper()
	admin, err := server()
	if err != nil {
		if os.Getenv("CI") == "true" || os.Getenv("PUSHD_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL is required here: %v", err)
		}
		t.Skipf("PostgreSQL not available (%v): install postgresql or set PUSHD_TEST_POSTGRES_URL", err)
	}
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
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
	})
	return Database{Driver: "postgres", DSN: withDatabase(admin, name)}
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
	proc     *exec.Cmd
	dataDir  string
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
	if proc == nil {
		return
	}
	proc.Process.Signal(syscall.SIGINT) // fast shutdown
	done := make(chan struct{})
	go func() { proc.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		proc.Process.Kill()
		<-done
	}
	os.RemoveAll(dataDir)
}

// start runs initdb and postgres on a free loopback port. PostgreSQL refuses
// to run as root, so as root it runs as the postgres (or nobody) user.
func start() (string, error) {
	initdb, err := findBinary("initdb")
	if err != nil {
		return "", err
	}
	postgres := filepath.Join(filepath.Dir(initdb), "postgres")
	dir, err := os.MkdirTemp("", "pushd-pg-")
	if err != nil {
		return "", err
	}
	dataDir = dir
	cred, err := unprivileged()
	if err != nil {
		return "", err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return "", err
		}
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(initdb, "-D", data, "-U", "pushd", "--auth=trust", "-E", "UTF8", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("initdb: %v: %s", err, out)
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	proc = exec.Command(postgres, "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200")
	proc.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logFile, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return "", err
	}
	proc.Stdout, proc.Stderr = logFile, logFile
	if err := proc.Start(); err != nil {
		return "", fmt.Errorf("start postgres: %w", err)
	}
	u := fmt.Sprintf("postgres://pushd@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, err := sql.Open("pgx", u)
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil {
			return u, nil
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile.Name())
			return "", fmt.Errorf("postgres did not come up: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
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
