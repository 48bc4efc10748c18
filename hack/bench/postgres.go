package main

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/vworkspace/pushd/internal/testbed"
)

// postgres is a throw-away PostgreSQL on loopback, started the way
// internal/dbtest starts one for the tests (initdb + postgres, fsync off; as
// root it runs as the postgres user).
type postgres struct {
	URL  string
	dir  string
	proc *exec.Cmd
}

// dir is a fresh temporary folder (not under the benchmark's own 0700
// folder, which the postgres user could not enter); stop removes it.
func startPostgres() (*postgres, error) {
	initdb, err := exec.LookPath("initdb")
	if err != nil {
		m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
		if len(m) == 0 {
			return nil, errors.New("initdb not found in PATH or /usr/lib/postgresql/*/bin")
		}
		initdb = m[len(m)-1]
	}
	bin := filepath.Join(filepath.Dir(initdb), "postgres")
	dir, err := os.MkdirTemp("", "pushd-bench-pg-")
	if err != nil {
		return nil, err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, errors.New("running as root and no postgres user to run PostgreSQL as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(initdb, "-D", data, "-U", "pushd", "--auth=trust", "-E", "UTF8", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v: %s", err, tail(out, 300))
	}
	port, err := testbed.FreePort()
	if err != nil {
		return nil, err
	}
	p := &postgres{dir: dir}
	p.proc = exec.Command(bin, "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
		"-c", "full_page_writes=off", "-c", "max_connections=200")
	p.proc.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		return nil, err
	}
	p.proc.Stdout, p.proc.Stderr = logf, logf
	if err := p.proc.Start(); err != nil {
		return nil, err
	}
	p.URL = fmt.Sprintf("postgres://pushd@127.0.0.1:%d/postgres?sslmode=disable", port)
	deadline := time.Now().Add(30 * time.Second)
	for {
		db, err := sql.Open("pgx", p.URL)
		if err == nil {
			err = db.Ping()
			db.Close()
		}
		if err == nil {
			return p, nil
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("postgres did not come up: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends the server this benchmark started (fast shutdown, then kill).
func (p *postgres) stop() {
	if p == nil || p.proc == nil || p.proc.Process == nil {
		return
	}
	p.proc.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { p.proc.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.proc.Process.Kill()
		<-done
	}
	os.RemoveAll(p.dir)
}
